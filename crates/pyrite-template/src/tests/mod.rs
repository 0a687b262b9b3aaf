//! Table-driven tests of the whole language, each expectation derived from Go's
//! documented behaviour (and its source where the documentation is silent).

mod exec_cases;
mod fmt_cases;
mod func_cases;
mod fuzz;
mod objects;
mod parse_cases;

use crate::{Arity, Func, Funcs, List, MissingKey, Template, Value};

/// What a case expects: the exact output, or an error containing the text.
pub(crate) enum Want {
    Out(&'static str),
    Err(&'static str),
}

pub(crate) use Want::{Err as E, Out as O};

/// Parses and executes `text` with `data`, answering the output or the error message.
pub(crate) fn run_with(text: &str, data: &Value, funcs: &Funcs, missing: MissingKey) -> Result<String, String> {
    let t = Template::parse("t", text, funcs)
        .map_err(|e| e.to_string())?
        .with_missing_key(missing);
    t.execute_main(data).map_err(|e| e.to_string())
}

/// Functions the tests add: a failing one, an upper-caser and Alertmanager's
/// `stringSlice`.
pub(crate) fn test_funcs() -> Funcs {
    let mut f = Funcs::builtin();
    f.add("fail", Arity::Exact(0), |_| Err("boom".to_string()));
    f.add("toUpper", Arity::Exact(1), |a| match a.first() {
        Some(Value::String(s)) => Ok(Value::from(s.to_uppercase())),
        _ => Err("toUpper wants a string".to_string()),
    });
    f.add("stringSlice", Arity::AtLeast(0), |a| {
        Ok(Value::List(List::strings(
            a.iter().map(|v| v.as_str().unwrap_or_default().to_string()),
        )))
    });
    f
}

/// The data most cases run against.
pub(crate) fn data() -> Value {
    Value::map([
        ("s", Value::from("str")),
        ("i", Value::from(42)),
        ("f", Value::from(1.5)),
        ("t", Value::from(true)),
        ("empty", Value::from("")),
        ("zero", Value::from(0)),
        (
            "list",
            Value::list(vec![Value::from("a"), Value::from("b"), Value::from("c")]),
        ),
        (
            "ints",
            Value::list(vec![Value::from(1), Value::from(2), Value::from(3)]),
        ),
        ("strs", Value::List(List::strings(["x", "y"]))),
        ("labels", Value::string_map([("job", "api"), ("instance", "h:9")])),
        ("anymap", Value::map([("a", Value::from(1)), ("b", Value::from("two"))])),
        ("nested", Value::map([("inner", Value::string_map([("k", "v")]))])),
        ("nil", Value::Nil),
        ("emptylist", Value::list(vec![])),
        ("emptymap", Value::map(Vec::<(String, Value)>::new())),
        ("withnil", Value::list(vec![Value::from(1), Value::Nil])),
        ("floats", Value::list(vec![Value::from(0.1), Value::from(2.0)])),
        ("inf", Value::from(f64::INFINITY)),
        ("ninf", Value::from(f64::NEG_INFINITY)),
        ("nan", Value::from(f64::NAN)),
        (
            "fn",
            Value::Func(Func::new(|a| {
                Ok(Value::Int(
                    a.iter()
                        .map(|v| match v {
                            Value::Int(i) => *i,
                            _ => 0,
                        })
                        .sum(),
                ))
            })),
        ),
        ("failfn", Value::Func(Func::new(|_| Err("boom".to_string())))),
    ])
}

/// Runs every case against `data` and reports all mismatches at once.
pub(crate) fn check(cases: &[(&str, Want)], data: &Value, missing: MissingKey) {
    let funcs = test_funcs();
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = run_with(text, data, &funcs, missing);
        let ok = match (want, &got) {
            (Want::Out(w), Ok(g)) => g == w,
            (Want::Err(w), Err(g)) => g.contains(w),
            _ => false,
        };
        if !ok {
            let want = match want {
                Want::Out(w) => format!("output {w:?}"),
                Want::Err(w) => format!("error containing {w:?}"),
            };
            failures.push(format!("{text:?}: want {want}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
