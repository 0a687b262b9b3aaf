//! `printf` with Go's verbs, flags, widths and precisions, and Go's in-band complaints.

use super::{check, data, E, O};
use crate::MissingKey;

#[test]
fn floats_round_and_print_like_go() {
    check(
        &[
            ("{{printf \"%.1f\" 0.25}}", O("0.2")),
            ("{{printf \"%.2f\" 1.005}}", O("1.00")),
            ("{{printf \"%.0f %.0f %.0f\" 0.5 1.5 2.5}}", O("0 2 2")),
            ("{{printf \"%f %F\" 1.5 1.5}}", O("1.500000 1.500000")),
            (
                "{{printf \"%e %E %g %G\" 1234.5678 1234.5678 1234.5678 0.000012345}}",
                O("1.234568e+03 1.234568E+03 1234.5678 1.2345E-05"),
            ),
            ("{{printf \"%.3g\" 1234.0}}", O("1.23e+03")),
            ("{{printf \"%g %g\" 100000.0 1e6}}", O("100000 1e+06")),
            ("{{printf \"%g\" 0.0000123}}", O("1.23e-05")),
            ("{{printf \"%e\" 0.0}}", O("0.000000e+00")),
            ("{{printf \"%.3e\" 123456.0}}", O("1.235e+05")),
            (
                "{{printf \"%8.3f|%-8.3f|%08.3f|%+.2f\" 3.14159 3.14159 -3.14159 2.0}}",
                O("   3.142|3.142   |-003.142|+2.00"),
            ),
            ("{{printf \"%6.2v\" 3.14159}}", O("   3.1")),
            ("{{printf \"%v\" 1e21}}", O("1e+21")),
            ("{{printf \"%#g\" 1.0}}", O("1.00000")),
            ("{{printf \"%#.0f\" 3.0}}", O("3.")),
            ("{{printf \"% .2f\" 1.0}}", O(" 1.00")),
            ("{{printf \"%f %v %5.1f\" .inf .inf .ninf}}", O("+Inf +Inf  -Inf")),
            ("{{printf \"%06.1f|%v\" .inf .nan}}", O("  +Inf|NaN")),
            ("{{printf \"%+v\" .nan}}", O("NaN")),
            ("{{printf \"%b\" 1.0}}", O("4503599627370496p-52")),
            ("{{printf \"%x\" 3.0}}", O("0x1.8p+01")),
            ("{{printf \"%.2f\" .i}}", O("%!f(int=42)")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn integers_strings_and_others() {
    check(
        &[
            ("{{printf \"%5.2f|%-5d|%05d\" 3.14159 42 42}}", O(" 3.14|42   |00042")),
            (
                "{{printf \"%x %X %o %b %c %U\" 255 255 8 5 65 65}}",
                O("ff FF 10 101 A U+0041"),
            ),
            ("{{printf \"%#x %#o %#b %#X\" 255 8 5 255}}", O("0xff 010 0b101 0XFF")),
            ("{{printf \"%O\" 8}}", O("0o10")),
            ("{{printf \"%+d|% d|%d\" 5 5 -5}}", O("+5| 5|-5")),
            ("{{printf \"%x\" -255}}", O("-ff")),
            ("{{printf \"%.3d|%.0d|%5.0d|\" 7 0 0}}", O("007||     |")),
            ("{{printf \"%-05d|\" 3}}", O("3    |")),
            ("{{printf \"%+05d\" 3}}", O("+0003")),
            ("{{printf \"%c\" 128512}}", O("😀")),
            ("{{printf \"%U %#U\" 128512 65}}", O("U+1F600 U+0041 'A'")),
            ("{{printf \"%q\" 65}}", O("'A'")),
            ("{{printf \"%q\" \"a\\\"b\"}}", O("\"a\\\"b\"")),
            ("{{printf \"%q\" \"é\\n\"}}", O("\"é\\n\"")),
            ("{{printf \"%+q\" \"é\"}}", O("\"\\u00e9\"")),
            ("{{printf \"%#q\" \"a\\\"b\"}}", O("`a\"b`")),
            (
                "{{printf \"%5s|%-5s|%.2s\" \"ab\" \"ab\" \"abc\"}}",
                O("   ab|ab   |ab"),
            ),
            ("{{printf \"%05s\" \"ab\"}}", O("000ab")),
            ("{{printf \"%.1s\" \"éa\"}}", O("é")),
            (
                "{{printf \"%x|% x|%#x|%X\" \"hi\" \"hi\" \"hi\" \"hi\"}}",
                O("6869|68 69|0x6869|6869"),
            ),
            ("{{printf \"%t %v\" true false}}", O("true false")),
            ("{{printf \"%5t|\" true}}", O(" true|")),
            ("{{printf \"%v\" .list}}", O("[a b c]")),
            ("{{printf \"%d\" .ints}}", O("[1 2 3]")),
            ("{{printf \"%q\" .list}}", O("[\"a\" \"b\" \"c\"]")),
            ("{{printf \"%5d\" .ints}}", O("[    1     2     3]")),
            (
                "{{printf \"%d\" .list}}",
                O("[%!d(string=a) %!d(string=b) %!d(string=c)]"),
            ),
            ("{{printf \"%v\" .labels}}", O("map[instance:h:9 job:api]")),
            ("{{printf \"%d\" .withnil}}", O("[1 <nil>]")),
            (
                "{{printf \"%T %T %T %T %T %T\" 1 1.5 \"s\" true .list .labels}}",
                O("int float64 string bool []interface {} map[string]string"),
            ),
            ("{{printf \"%T\" .missing}}", O("<nil>")),
            ("{{printf \"%#v\" \"a\"}}", O("\"a\"")),
            ("{{printf \"%#v\" .strs}}", O("[]string{\"x\", \"y\"}")),
            ("{{printf \"%s\" .floats}}", O("[%!s(float64=0.1) %!s(float64=2)]")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn bad_verbs_and_arguments_print_in_band() {
    check(
        &[
            ("{{printf \"%d\" \"x\"}}", O("%!d(string=x)")),
            ("{{printf \"%s\" 1}}", O("%!s(int=1)")),
            ("{{printf \"%d\" 1.5}}", O("%!d(float64=1.5)")),
            ("{{printf \"%d\" true}}", O("%!d(bool=true)")),
            ("{{printf \"%z\" 1}}", O("%!z(int=1)")),
            ("{{printf \"%d\" .missing}}", O("%!d(<nil>)")),
            ("{{printf \"%d %d\" 1}}", O("1 %!d(MISSING)")),
            ("{{printf \"%d\" 1 2}}", O("1%!(EXTRA int=2)")),
            (
                "{{printf \"%d\" 1 \"a\" 2.5 .missing}}",
                O("1%!(EXTRA string=a, float64=2.5, <nil>)"),
            ),
            ("{{printf \"x\" 1}}", O("x%!(EXTRA int=1)")),
            ("{{printf \"%\"}}", O("%!(NOVERB)")),
            ("{{printf \"%%|%5%\"}}", O("%|%")),
            ("{{printf \"%!\"}}", O("%!!(MISSING)")),
            ("{{printf \"%*d|%-*d\" 5 1 5 1}}", O("    1|1    ")),
            ("{{printf \"%*d\" -4 1}}", O("1   ")),
            ("{{printf \"%.*f\" 2 3.14159}}", O("3.14")),
            ("{{printf \"%*d\" \"x\" 1}}", O("%!(BADWIDTH)1")),
            ("{{printf \"%.*d\" -1 1}}", O("%!(BADPREC)1")),
            ("{{printf \"%[2]d %[1]d\" 1 2}}", O("2 1")),
            ("{{printf \"%[3]d\" 1 2}}", O("%!d(BADINDEX)")),
            ("{{printf \"%[1]d %d\" 1 2}}", O("1 2")),
            ("{{printf \"%w\" 1}}", O("%!w(int=1)")),
            ("{{printf 1}}", E("expected string; found 1")),
            ("{{printf nil}}", E("cannot assign nil to string")),
            ("{{printf .i}}", E("wrong type for value; expected string; got int")),
            ("{{printf .missing}}", E("invalid value; expected string")),
            (
                "{{printf}}",
                E("wrong number of args for printf: want at least 1 got 0"),
            ),
            ("{{\"%d!\" | printf}}", O("%!d(MISSING)!")),
            ("{{3 | printf \"%d!\"}}", O("3!")),
        ],
        &data(),
        MissingKey::Default,
    );
}
