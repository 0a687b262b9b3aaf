//! Go's predefined functions, and functions the caller adds.

use super::{check, data, run_with, E, O};
use crate::{Arity, Funcs, MissingKey, Value};

#[test]
fn boolean_functions_short_circuit() {
    check(
        &[
            ("{{and 1 0 2}}", O("0")),
            ("{{and 1 2}}", O("2")),
            ("{{or 0 \"\" 3}}", O("3")),
            ("{{or 0 false}}", O("false")),
            ("{{or .missing .s}}", O("str")),
            (
                "{{not .missing}} {{not 0}} {{not 1}} {{not .list}}",
                O("true true false false"),
            ),
            ("{{and false (fail)}}", O("false")),
            ("{{or true (fail)}}", O("true")),
            ("{{and true (fail)}}", E("error calling fail: boom")),
            ("{{and}}", E("wrong number of args for and: want at least 1 got 0")),
            ("{{not 1 2}}", E("wrong number of args for not: want 1 got 2")),
            ("{{.t | and 1}}", O("true")),
            ("{{0 | and 1}}", O("0")),
            ("{{.zero | or 0}}", O("0")),
            ("{{if and .t .s}}yes{{end}}", O("yes")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn len_index_slice() {
    check(
        &[
            (
                "{{len .list}} {{len .labels}} {{len .s}} {{len \"héllo\"}}",
                O("3 2 3 6"),
            ),
            ("{{len .emptymap}}", O("0")),
            ("{{len 3}}", E("error calling len: len of type int")),
            (
                "{{len .missing}}",
                E("error calling len: reflect: call of reflect.Value.Type on zero Value"),
            ),
            ("{{len 1 2}}", E("wrong number of args for len: want 1 got 2")),
            ("{{index .list 1}}", O("b")),
            ("{{index .labels \"job\"}}", O("api")),
            ("{{index .labels \"nope\"}}", O("")),
            ("{{index .anymap \"nope\"}}", O("<no value>")),
            ("{{index .nested \"inner\" \"k\"}}", O("v")),
            ("{{index .list}}", O("[a b c]")),
            ("{{index .s 0}}", O("115")),
            ("{{index .list 5}}", E("error calling index: index out of range: 5")),
            ("{{index .list -1}}", E("error calling index: index out of range: -1")),
            (
                "{{index .list 3}}",
                E("error calling index: reflect: slice index out of range"),
            ),
            (
                "{{index .list \"a\"}}",
                E("error calling index: cannot index slice/array with type string"),
            ),
            ("{{index .list nil}}", E("cannot index slice/array with nil")),
            ("{{index .i 0}}", E("error calling index: can't index item of type int")),
            ("{{index .missing 0}}", E("error calling index: index of untyped nil")),
            (
                "{{index .labels 1}}",
                E("error calling index: value has type int; should be string"),
            ),
            ("{{index .anymap \"x\" \"y\"}}", E("index of nil pointer")),
            ("{{slice .list 1}}", O("[b c]")),
            ("{{slice .list 1 2}}", O("[b]")),
            ("{{slice .list}}", O("[a b c]")),
            ("{{slice .list 0 1 2}}", O("[a]")),
            ("{{slice .s 1 2}}", O("t")),
            ("{{slice .s 1}}", O("tr")),
            ("{{slice .list 2 1}}", E("invalid slice index: 2 > 1")),
            ("{{slice .list 0 4}}", E("index out of range: 4")),
            ("{{slice .s 0 1 2}}", E("cannot 3-index slice a string")),
            ("{{slice .list 0 2 1}}", E("invalid slice index: 2 > 1")),
            ("{{slice .list 0 1 2 3}}", E("too many slice indexes: 4")),
            ("{{slice .i 0}}", E("can't slice item of type int")),
            ("{{slice .missing}}", E("slice of untyped nil")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn comparisons_follow_gos_basic_kinds() {
    check(
        &[
            ("{{eq .s \"str\"}}", O("true")),
            ("{{eq .s \"a\" \"str\"}}", O("true")),
            ("{{eq .s \"a\" \"b\"}}", O("false")),
            (
                "{{eq 1 1}} {{eq .i 42}} {{eq 1.5 .f}} {{eq true .t}}",
                O("true true true true"),
            ),
            ("{{eq 1 1.0}}", E("error calling eq: incompatible types for comparison")),
            ("{{eq \"1\" 1}}", E("incompatible types for comparison: string and int")),
            ("{{eq .missing nil}}", O("true")),
            ("{{eq .s nil}}", O("false")),
            ("{{eq .missing \"x\"}}", O("false")),
            ("{{eq \"x\" .missing}}", O("false")),
            ("{{eq .list nil}}", O("false")),
            ("{{eq .list .list}}", E("non-comparable type [a b c]: []interface {}")),
            ("{{eq .list \"a\"}}", E("incompatible types for comparison")),
            ("{{eq 1}}", E("missing argument for comparison")),
            ("{{ne 1 2}} {{ne \"a\" \"a\"}}", O("true false")),
            ("{{ne 1 2 3}}", E("wrong number of args for ne: want 2 got 3")),
            ("{{lt 1 2}} {{lt 2.5 1.5}} {{lt \"a\" \"b\"}}", O("true false true")),
            ("{{lt 1 2.5}}", E("incompatible types for comparison: int and float64")),
            ("{{lt true false}}", E("error calling lt: invalid type for comparison")),
            ("{{lt .missing 1}}", E("invalid type for comparison")),
            ("{{lt .list 1}}", E("invalid type for comparison")),
            ("{{le 2 2}} {{le 3 2}}", O("true false")),
            ("{{gt 3 2}} {{gt .f 1.0}} {{gt 2 2}}", O("true true false")),
            ("{{ge 2 3}} {{ge 3 3}}", O("false true")),
            ("{{ge \"b\" \"a\"}}", O("true")),
            ("{{gt 1 1.5}}", E("incompatible types for comparison: int and float64")),
            ("{{if lt .i 50}}small{{end}}", O("small")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn print_functions_space_like_fmt() {
    check(
        &[
            ("{{print 1 2}}", O("1 2")),
            ("{{print \"a\" \"b\"}}", O("ab")),
            ("{{print \"a\" 1 2 \"b\"}}", O("a1 2b")),
            ("{{print 1 \"a\" 2}}", O("1a2")),
            ("{{print 1.5 true .list}}", O("1.5 true [a b c]")),
            ("{{print .nil 1}}", O("<nil> 1")),
            ("{{print}}", O("")),
            ("{{println 1 \"a\" 2}}", O("1 a 2\n")),
            ("{{println}}", O("\n")),
            ("{{println .nil}}", O("<nil>\n")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn escapers() {
    check(
        &[
            (
                "{{html \"<a href=\\\"x\\\">&'\"}}",
                O("&lt;a href=&#34;x&#34;&gt;&amp;&#39;"),
            ),
            ("{{html .missing}}", O("&lt;no value&gt;")),
            ("{{html 1 2}}", O("1 2")),
            ("{{html 1 .missing}}", O("1&lt;no value&gt;")),
            (
                "{{js \"a'b\\\"c<d>=&\\\\\"}}",
                O("a\\'b\\\"c\\u003Cd\\u003E\\u003D\\u0026\\\\"),
            ),
            ("{{js \"\\n\\t\"}}", O("\\u000A\\u0009")),
            ("{{js \"é\"}}", O("é")),
            ("{{js \"\\u2028\"}}", O("\\u2028")),
            ("{{urlquery \"a b&c=d/é~\"}}", O("a+b%26c%3Dd%2F%C3%A9~")),
            ("{{\"<x>\" | html}}", O("&lt;x&gt;")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn call_and_added_functions() {
    check(
        &[
            ("{{call .fn 1 2}}", O("3")),
            ("{{call .fn}}", O("0")),
            ("{{2 | call .fn 1}}", O("3")),
            ("{{call .s}}", E("error calling call: non-function .s of type string")),
            ("{{call .missing}}", E("error calling call: call of nil")),
            ("{{call .failfn}}", E("error calling call: boom")),
            ("{{toUpper \"a\"}}", O("A")),
            ("{{\"a\" | toUpper}}", O("A")),
            (
                "{{toUpper \"a\" \"b\"}}",
                E("wrong number of args for toUpper: want 1 got 2"),
            ),
            ("{{toUpper 1}}", E("error calling toUpper: toUpper wants a string")),
            ("{{stringSlice \"a\" \"b\"}}", O("[a b]")),
            ("{{printf \"%T\" (stringSlice)}}", O("[]string")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn functions_may_take_the_names_break_and_continue() {
    let mut f = Funcs::builtin();
    f.add("break", Arity::Exact(1), |a| Ok(a.first().cloned().unwrap_or_default()));
    assert_eq!(
        run_with("{{break 32}}", &Value::Nil, &f, MissingKey::Default),
        Ok("32".to_string())
    );
    assert_eq!(
        run_with("{{range 2}}{{continue}}{{end}}x", &Value::Nil, &f, MissingKey::Default),
        Ok("x".to_string())
    );
    // An added function replaces a builtin of the same name.
    f.add("len", Arity::Exact(1), |_| Ok(Value::from(-1)));
    assert_eq!(
        run_with("{{len .}}", &Value::from("abc"), &f, MissingKey::Default),
        Ok("-1".to_string())
    );
}
