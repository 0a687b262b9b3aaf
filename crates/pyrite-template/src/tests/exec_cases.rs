//! Actions, control structures, variables, data access and execution errors.

use super::{check, data, run_with, test_funcs, E, O};
use crate::{Funcs, MissingKey, Template, Value};

#[test]
fn printing_values() {
    check(
        &[
            ("hello", O("hello")),
            ("{{.s}}", O("str")),
            ("{{.i}}", O("42")),
            ("{{.f}}", O("1.5")),
            ("{{.t}}", O("true")),
            ("{{1e21}}", O("1e+21")),
            ("{{0.1}}", O("0.1")),
            ("{{3.0}}", O("3")),
            ("{{1e6}}", O("1e+06")),
            ("{{100000.0}}", O("100000")),
            ("{{123456789.0}}", O("1.23456789e+08")),
            ("{{1.5e-7}}", O("1.5e-07")),
            ("{{0x1F}}", O("31")),
            ("{{0o17}} {{017}} {{0b101}}", O("15 15 5")),
            ("{{0x1p4}}", O("16")),
            ("{{'a'}}", O("97")),
            ("{{'\\n'}}", O("10")),
            ("{{1_000}}", O("1000")),
            ("{{-5}}", O("-5")),
            ("{{+5}}", O("5")),
            ("{{.list}}", O("[a b c]")),
            ("{{.strs}}", O("[x y]")),
            ("{{.labels}}", O("map[instance:h:9 job:api]")),
            ("{{.anymap}}", O("map[a:1 b:two]")),
            ("{{.emptylist}} {{.emptymap}}", O("[] map[]")),
            ("{{.withnil}}", O("[1 <nil>]")),
            ("{{.floats}}", O("[0.1 2]")),
            ("{{.inf}} {{.ninf}} {{.nan}}", O("+Inf -Inf NaN")),
            ("{{.missing}}", O("<no value>")),
            ("{{.nil}}", O("<no value>")),
            ("{{.labels.missing}}", O("<no value>")),
            ("{{.missing.deeper}}", O("<no value>")),
            ("{{print .nil}}", O("<nil>")),
            ("{{printf \"%v\" .missing}}", O("<nil>")),
            ("{{\"a\\tb\\u00e9\"}}", O("a\tbé")),
            ("{{`raw\\n`}}", O("raw\\n")),
            ("{{true}} {{false}}", O("true false")),
            ("{{.nested.inner.k}}", O("v")),
            ("{{.}}", O("map[anymap:map[a:1 b:two] empty: emptylist:[] emptymap:map[] f:1.5 failfn:0x0 floats:[0.1 2] fn:0x0 i:42 inf:+Inf ints:[1 2 3] labels:map[instance:h:9 job:api] list:[a b c] nan:NaN nested:map[inner:map[k:v]] nil:<nil> ninf:-Inf s:str strs:[x y] t:true withnil:[1 <nil>] zero:0]")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn missing_keys_follow_the_option() {
    let d = data();
    check(
        &[
            ("{{.labels.missing}}", O("")),
            ("[{{.labels.nope}}]", O("[]")),
            ("{{.anymap.missing}}", O("<no value>")),
            ("{{.missing}}", O("<no value>")),
            ("{{index .labels \"nope\"}}", O("")),
        ],
        &d,
        MissingKey::Zero,
    );
    check(
        &[
            ("{{.labels.missing}}", O("<no value>")),
            ("{{index .labels \"nope\"}}", O("")),
            ("{{index .anymap \"nope\"}}", O("<no value>")),
        ],
        &d,
        MissingKey::Default,
    );
    check(
        &[
            ("{{.labels.missing}}", E("map has no entry for key \"missing\"")),
            ("{{.labels.job}}", O("api")),
        ],
        &d,
        MissingKey::Error,
    );
}

#[test]
fn trim_markers_and_comments() {
    check(
        &[
            ("a  {{- 1 -}}  b", O("a1b")),
            ("{{23 -}} < {{- 45}}", O("23<45")),
            ("x {{/* c */}} y", O("x  y")),
            ("x {{- /* c */ -}} y", O("xy")),
            ("x {{/* multi\nline */}}y", O("x y")),
            ("a\n\t {{- .s}}\n", O("astr\n")),
            ("{{.s -}}\n\n x", O("strx")),
            ("{{-3}}", O("-3")),
            ("{{- .s}}", O("str")),
            ("{{.s\n}}", O("str")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn if_and_with() {
    check(
        &[
            ("{{if .t}}yes{{end}}", O("yes")),
            ("{{if .empty}}yes{{else}}no{{end}}", O("no")),
            ("{{if .zero}}a{{else if .i}}b{{else}}c{{end}}", O("b")),
            ("{{if .missing}}a{{else if .emptylist}}b{{else}}c{{end}}", O("c")),
            ("{{if .emptymap}}1{{else}}0{{end}}", O("0")),
            ("{{if 0.0}}1{{else}}0{{end}}", O("0")),
            ("{{if .list}}1{{end}}{{if .labels}}2{{end}}{{if .fn}}3{{end}}", O("123")),
            ("{{if .nan}}nan is true{{end}}", O("nan is true")),
            ("{{with .s}}{{.}}{{end}}", O("str")),
            ("{{with .empty}}x{{else}}none {{.i}}{{end}}", O("none 42")),
            ("{{with .missing}}x{{else with .s}}{{.}}{{end}}", O("str")),
            ("{{with .missing}}x{{else with .zero}}y{{else}}z{{end}}", O("z")),
            ("{{with $x := .i}}{{$x}}{{.}}{{end}}", O("4242")),
            ("{{with .nested}}{{$.s}}{{.inner.k}}{{end}}", O("strv")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn range_forms() {
    check(
        &[
            ("{{range .list}}{{.}},{{end}}", O("a,b,c,")),
            ("{{range $i, $e := .list}}{{$i}}:{{$e}} {{end}}", O("0:a 1:b 2:c ")),
            ("{{range $e := .list}}{{$e}}{{end}}", O("abc")),
            (
                "{{range $k, $v := .labels}}{{$k}}={{$v}};{{end}}",
                O("instance=h:9;job=api;"),
            ),
            ("{{range .labels}}{{.}} {{end}}", O("h:9 api ")),
            ("{{range .emptylist}}x{{else}}empty{{end}}", O("empty")),
            ("{{range .missing}}x{{else}}none{{end}}", O("none")),
            ("{{range $x := .emptylist}}{{else}}{{$x}}{{end}}", O("[]")),
            ("{{range 3}}{{.}}{{end}}", O("012")),
            ("{{range $i := 3}}{{$i}}{{end}}", O("012")),
            ("{{range 0}}x{{else}}none{{end}}", O("none")),
            ("{{range -2}}x{{else}}none{{end}}", O("none")),
            (
                "{{range $i, $e := 3}}{{end}}",
                E("can't use 3 to iterate over more than one variable"),
            ),
            ("{{range .s}}{{end}}", E("range can't iterate over str")),
            ("{{range 1.5}}{{end}}", E("range can't iterate over 1.5")),
            ("{{range .list}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}", O("a")),
            (
                "{{range .list}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}",
                O("ac"),
            ),
            (
                "{{range .ints}}{{range $.list}}{{break}}{{.}}{{end}}{{.}}{{end}}",
                O("123"),
            ),
            ("{{range .ints}}{{with .}}{{continue}}{{end}}x{{end}}done", O("done")),
            (
                "{{$i := 0}}{{$e := \"\"}}{{range $i, $e = .list}}{{end}}{{$i}}{{$e}}",
                O("2c"),
            ),
            ("{{range .ints}}{{$.s}}{{end}}", O("strstrstr")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn variables_and_scopes() {
    check(
        &[
            ("{{$x := 1}}{{$x}}", O("1")),
            ("{{$x := 1}}{{$x = 2}}{{$x}}", O("2")),
            ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", O("2")),
            ("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", O("21")),
            ("{{$x := 0}}{{range .ints}}{{$x = .}}{{end}}{{$x}}", O("3")),
            (
                "{{$n := 0}}{{range .list}}{{range $.ints}}{{$n = .}}{{end}}{{end}}{{$n}}",
                O("3"),
            ),
            ("{{$x := .labels}}{{$x.job}}", O("api")),
            ("{{$.s}}", O("str")),
            ("{{$x := 1}}{{$y := $x}}{{$y}}", O("1")),
            ("{{$x = 1}}", E("undefined variable: $x")),
        ],
        &data(),
        MissingKey::Default,
    );
    assert_eq!(
        run_with("{{$}}", &Value::from(5), &Funcs::builtin(), MissingKey::Default),
        Ok("5".to_string())
    );
}

#[test]
fn pipelines_and_commands() {
    check(
        &[
            ("{{.s | printf \"%q\"}}", O("\"str\"")),
            ("{{\"put\" | printf \"%s%s\" \"out\" | printf \"%q\"}}", O("\"output\"")),
            ("{{\"output\" | printf \"%s\" | printf \"%q\"}}", O("\"output\"")),
            ("{{printf \"%q\" (print \"out\" \"put\")}}", O("\"output\"")),
            (
                "{{with $x := \"output\" | printf \"%q\"}}{{$x}}{{end}}",
                O("\"output\""),
            ),
            (
                "{{with $x := \"output\"}}{{$x | printf \"%q\"}}{{end}}",
                O("\"output\""),
            ),
            ("{{(.nested).inner.k}}", O("v")),
            ("{{(index .nested \"inner\").k}}", O("v")),
            ("{{.s | toUpper | printf \"<%s>\"}}", O("<STR>")),
            ("{{.i | len}}", E("error calling len: len of type int")),
            ("{{.s 1}}", E("s is not a method but has arguments")),
            ("{{1 | .s}}", E("s is not a method but has arguments")),
            ("{{\"x\" 1}}", E("can't give argument to non-function \"x\"")),
            ("{{. 1}}", E("can't give argument to non-function .")),
            ("{{nil}}", E("nil is not a command")),
            ("{{(1).x}}", E("can't evaluate field x in type int")),
            ("{{.s.x}}", E("can't evaluate field x in type string")),
            ("{{.list.x}}", E("can't evaluate field x in type []interface {}")),
            ("{{$x := 1}}{{$x 2}}", E("can't give argument to non-function $x")),
            ("{{99999999999999999999.0}}", O("1e+20")),
            ("{{18446744073709551615}}", E("18446744073709551615 overflows int")),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn defined_templates_and_blocks() {
    check(
        &[
            ("{{define \"x\"}}X{{.}}{{end}}{{template \"x\" .i}}", O("X42")),
            ("{{define \"x\"}}[{{.}}]{{end}}{{template \"x\"}}", O("[<no value>]")),
            ("{{define \"x\"}}{{$}}{{end}}{{template \"x\" 5}}", O("5")),
            ("{{block \"b\" .s}}default {{.}}{{end}}", O("default str")),
            (
                "{{define \"a\"}}1{{end}}{{define \"a\"}} {{end}}{{template \"a\"}}",
                O("1"),
            ),
            (
                "{{template \"x\" $y := 3}}{{define \"x\"}}{{.}}{{end}} {{$y}}",
                O("3 3"),
            ),
            (
                "{{define \"r\"}}{{template \"r\"}}{{end}}{{template \"r\"}}",
                E("exceeded maximum template depth (1000)"),
            ),
            (
                "{{define \"r\"}}{{if 1}}{{with .}}{{range 1}}{{template \"r\" (print (print (len \"x\")))}}{{end}}{{end}}{{end}}{{end}}{{template \"r\" 1}}",
                E("exceeded maximum template depth (1000)"),
            ),
        ],
        &data(),
        MissingKey::Default,
    );
}

#[test]
fn block_is_overridden_by_a_later_definition() -> Result<(), Box<dyn std::error::Error>> {
    let funcs = Funcs::builtin();
    let mut t = Template::parse("main", "<{{block \"b\" .}}default{{end}}>", &funcs)?;
    assert_eq!(t.execute_main(&Value::Nil)?, "<default>");
    t.add("more", "\n{{define \"b\"}}over {{.}}{{end}}\n")?;
    assert_eq!(t.execute_main(&Value::from(1))?, "<over 1>");
    assert_eq!(t.execute("more", &Value::Nil)?, "\n\n");
    // Empty text never replaces a template.
    t.add("main", "  ")?;
    assert_eq!(t.execute_main(&Value::from(2))?, "<over 2>");
    // A failed add leaves the set as it was.
    assert!(t.add("bad", "{{define \"b\"}}{{end").is_err());
    assert_eq!(t.execute("b", &Value::from(3))?, "over 3");
    assert_eq!(t.names(), vec!["b", "main", "more"]);
    let err = t.execute("nope", &Value::Nil).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("template: no template \"nope\" associated with template \"main\"")
    );
    Ok(())
}

#[test]
fn execution_errors_are_located_like_go() {
    let d = data();
    let f = test_funcs();
    let run = |text: &str| run_with(text, &d, &f, MissingKey::Default);
    assert_eq!(
        run("{{index .list 5}}"),
        Err("template: t:1:2: executing \"t\" at <index .list 5>: error calling index: index out of range: 5".into())
    );
    assert_eq!(
        run("{{len 1 2}}"),
        Err("template: t:1:2: executing \"t\" at <len>: wrong number of args for len: want 1 got 2".into())
    );
    assert_eq!(
        run("{{template \"nope\"}}"),
        Err("template: t:1:11: executing \"t\" at <{{template \"nope\"}}>: template \"nope\" not defined".into())
    );
    assert_eq!(
        run("line1\n  {{.s.x}}"),
        Err("template: t:2:6: executing \"t\" at <.s.x>: can't evaluate field x in type string".into())
    );
    assert_eq!(
        run("{{define \"x\"}}{{.a.b}}{{end}}{{template \"x\" 1}}"),
        Err("template: t:1:18: executing \"x\" at <.a.b>: can't evaluate field a in type int".into())
    );
    assert_eq!(
        run("{{1 2}}"),
        Err("template: t:1:2: executing \"t\" at <1>: can't give argument to non-function 1".into())
    );
    assert_eq!(
        run("{{fail}}"),
        Err("template: t:1:2: executing \"t\" at <fail>: error calling fail: boom".into())
    );
    assert_eq!(
        run("{{printf \"%d\" (fail)}}"),
        Err("template: t:1:15: executing \"t\" at <fail>: error calling fail: boom".into())
    );
}
