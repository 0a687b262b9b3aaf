//! Random templates never panic: whatever is parsed is executed, and both answer `Ok`
//! or `Err`.

use proptest::prelude::*;

use super::{data, test_funcs};
use crate::{MissingKey, Template};

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    "\n",
    ".",
    ".s",
    ".list",
    ".labels",
    ".missing",
    ".i",
    ".f",
    ".nil",
    ".x.y",
    "$",
    "$x",
    "$y",
    ":=",
    "=",
    "|",
    "(",
    ")",
    ",",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "\"s\"",
    "\"t\"",
    "`r`",
    "1",
    "2",
    "-1",
    "1.5",
    "1e400",
    "0x1p-2",
    "'c'",
    "'\\n'",
    "nil",
    "true",
    "false",
    "printf",
    "\"%d%s%v%.2f%*d%[2]x%!%\"",
    "\"%-5.3q|%#x|%U|%e|%g\"",
    "index",
    "slice",
    "len",
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "print",
    "println",
    "call",
    "html",
    "js",
    "urlquery",
    "fail",
    "toUpper",
    "stringSlice",
    "/*",
    "*/",
    "x",
    "é",
    "{",
    "}",
    "-",
    "'",
    "\"",
    "`",
    "\\",
    "#",
    "0b1_0",
    "99999999999999999999",
    "\"x\"",
];

fn template_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => "[ -~]{0,4}",
            1 => any::<char>().prop_map(|c| c.to_string()),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_templates_never_panic(text in template_text()) {
        let funcs = test_funcs();
        if let Ok(mut t) = Template::parse("t", &text, &funcs) {
            for missing in [MissingKey::Default, MissingKey::Zero, MissingKey::Error] {
                let t = t.clone().with_missing_key(missing);
                let _ = t.execute_main(&data());
            }
            let _ = t.add("u", &text);
        }
    }

    #[test]
    fn any_format_never_panics(format in "[%0-9.*\\[\\]#+ -~a-zA-Z]{0,16}", n in -5i64..5) {
        use crate::Value;
        let args = [Value::from(n), Value::from("s"), Value::from(1.5), Value::Nil, data()];
        let _ = crate::fmt::sprintf(&format, &args);
    }
}
