//! What Go refuses at parse time, with Go's message.

use super::test_funcs;
use crate::Template;

#[test]
fn refused_at_parse_time_with_gos_message() {
    let cases: &[(&str, &str)] = &[
        ("{{foo}}", "template: t:1: function \"foo\" not defined"),
        (
            "{{if false}}{{nope 1}}{{end}}",
            "template: t:1: function \"nope\" not defined",
        ),
        ("{{end}}", "template: t:1: unexpected {{end}}"),
        ("{{else}}", "template: t:1: unexpected {{else}}"),
        ("a\nb\n{{end}}", "template: t:3: unexpected {{end}}"),
        ("{{if .x}}", "template: t:1: unexpected EOF"),
        ("{{range .}}x", "template: t:1: unexpected EOF"),
        (
            "{{if .x}}{{else}}{{else}}{{end}}",
            "template: t:1: expected end; found {{else}}",
        ),
        (
            "{{define \"a\"}}{{else}}{{end}}",
            "template: t:1: unexpected {{else}} in define clause",
        ),
        ("{{.s", "template: t:1: unclosed action"),
        ("{{.s\n\n", "template: t:3: unclosed action started at t:1"),
        ("{{$x}}", "template: t:1: undefined variable \"$x\""),
        (
            "{{if true}}{{$y := 1}}{{end}}{{$y}}",
            "template: t:1: undefined variable \"$y\"",
        ),
        (
            "{{range $i, $e := .}}{{end}}{{$i}}",
            "template: t:1: undefined variable \"$i\"",
        ),
        (
            "{{$x := 1}}{{define \"d\"}}{{$x}}{{end}}",
            "template: t:1: undefined variable \"$x\"",
        ),
        ("{{break}}", "template: t:1: {{break}} outside {{range}}"),
        (
            "{{range .}}{{end}}{{continue}}",
            "template: t:1: {{continue}} outside {{range}}",
        ),
        (
            "{{range .}}{{define \"x\"}}{{end}}{{end}}",
            "template: t:1: unexpected <define> in command",
        ),
        (
            "{{range .}}{{break 1}}{{end}}",
            "template: t:1: unexpected \"1\" in {{break}}",
        ),
        (
            "{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}",
            "template: t:1: template: multiple definition of template \"a\"",
        ),
        ("{{template .x}}", "template: t:1: unexpected \".x\" in template clause"),
        (
            "{{define a}}{{end}}",
            "template: t:1: unexpected \"a\" in define clause",
        ),
        (
            "{{range $i, $j, $k := .}}{{end}}",
            "template: t:1: too many declarations in range",
        ),
        (
            "{{with $x, $y := .}}{{end}}",
            "template: t:1: too many declarations in with",
        ),
        (
            "{{range $i, 1}}{{end}}",
            "template: t:1: range can only initialize variables",
        ),
        (
            "{{.s | 1}}",
            "template: t:1: non executable command in pipeline stage 2",
        ),
        ("{{()}}", "template: t:1: missing value for parenthesized pipeline"),
        ("{{}}", "template: t:1: missing value for command"),
        ("{{if}}{{end}}", "template: t:1: missing value for if"),
        ("{{3k}}", "template: t:1: bad number syntax: \"3k\""),
        ("{{\"abc}}", "template: t:1: unterminated quoted string"),
        ("{{`abc}}", "template: t:1: unterminated raw quoted string"),
        ("{{'ab'}}", "template: t:1: malformed character constant: 'ab'"),
        ("{{\"\\q\"}}", "template: t:1: invalid syntax"),
        ("{{1.2.3}}", "template: t:1: unexpected \".3\" in operand"),
        ("{{\"a\".x}}", "template: t:1: unexpected . after term \"\\\"a\\\"\""),
        ("{{nil.x}}", "template: t:1: unexpected . after term \"nil\""),
        ("{{(1}}", "template: t:1: unclosed left paren"),
        ("{{1)}}", "template: t:1: unexpected right paren U+0029 ')'"),
        ("{{.x = 1}}", "template: t:1: unexpected \"=\" in operand"),
        ("{{/* a */ x}}", "template: t:1: comment ends before closing delimiter"),
        ("{{/* a", "template: t:1: unclosed comment"),
        ("{{089}}", "template: t:1: integer overflow: \"089\""),
        ("{{1i}}", "template: t:1: complex constants are not supported: \"1i\""),
        ("{{.a#}}", "template: t:1: bad character U+0023 '#'"),
        ("{{.a:b}}", "template: t:1: expected :="),
        (
            "{{\"abcdefghijklm\" \"x\" | 1}}",
            "template: t:1: non executable command in pipeline stage 2",
        ),
        ("{{if 1}}{{else if}}{{end}}", "template: t:1: missing value for if"),
        (
            "{{template \"x\" | }}",
            "template: t:1: unexpected \"|\" in template clause",
        ),
        (
            "{{printf \"%d\" \"abcdefghijklmnop\" }",
            "template: t:1: unexpected \"}\" in operand",
        ),
    ];
    let funcs = test_funcs();
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = Template::parse("t", text, &funcs)
            .map(|_| ())
            .map_err(|e| e.to_string());
        if got.as_ref().err().map(String::as_str) != Some(*want) {
            failures.push(format!("{text:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{{{{{}1{}}}}}", "(".repeat(100), ")".repeat(100));
    assert!(Template::parse("t", &deep, &test_funcs()).is_ok());
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(200), ")".repeat(200));
    let err = Template::parse("t", &parens, &test_funcs())
        .err()
        .map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("template: t:1: max expression depth exceeded"));
    let ifs = format!("{}x{}", "{{if 1}}".repeat(200), "{{end}}".repeat(200));
    let err = Template::parse("t", &ifs, &test_funcs()).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("template: t:1: max nesting depth exceeded"));
    let ok = format!("{}x{}", "{{if 1}}".repeat(50), "{{end}}".repeat(50));
    let t = Template::parse("t", &ok, &test_funcs());
    assert_eq!(
        t.ok().and_then(|t| t.execute_main(&crate::Value::Nil).ok()).as_deref(),
        Some("x")
    );
}
