//! The executor: walks a tree with a value as dot, evaluating pipelines, fields, methods,
//! variables and functions with Go's rules, and writes the text.
//!
//! Invariant: every failure becomes an [`ExecError`] located at the node Go would name
//! (`template: NAME:LINE:COL: executing "NAME" at <NODE>: …`); recursion through
//! `{{template}}` is bounded by [`MAX_EXEC_DEPTH`], so no template or data can exhaust
//! the stack.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::ast::{Arg, Command, Control, Node, Number, Pipe, TemplateCall};
use crate::error::ExecError;
use crate::fmt::{sprint, sprintf, sprintln};
use crate::funcs::{self, Builtin, Entry, Funcs};
use crate::parse::Tree;
use crate::quote::quote;
use crate::value::{Arity, CallError, Value};
use crate::MissingKey;

/// The deepest nesting of template calls and control structures during one execution.
pub(crate) const MAX_EXEC_DEPTH: usize = 1000;

type EResult<T> = Result<T, ExecError>;

/// What walking a list of nodes ended with.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node an error is reported at.
#[derive(Clone, Copy)]
enum At<'n> {
    Arg(&'n Arg),
    Cmd(&'n Command),
    Pipe(&'n Pipe),
    Action(usize, &'n Pipe),
    Template(&'n TemplateCall),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Arg(a) => a.pos(),
            At::Cmd(c) => c.pos,
            At::Pipe(p) => p.pos,
            At::Action(pos, _) => *pos,
            At::Template(t) => t.pos,
        }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Arg(a) => write!(f, "{a}"),
            At::Cmd(c) => write!(f, "{c}"),
            At::Pipe(p) => write!(f, "{p}"),
            At::Action(_, p) => write!(f, "{{{{{p}}}}}"),
            At::Template(t) => write!(f, "{t}"),
        }
    }
}

pub(crate) struct Exec<'a> {
    pub set: &'a HashMap<String, Arc<Tree>>,
    pub funcs: &'a Funcs,
    pub missing_key: MissingKey,
    pub out: String,
    vars: Vec<(String, Value)>,
    depth: usize,
}

/// Go's `ErrorContext` location: line, and byte column counted from 0.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = text.get(..pos).unwrap_or(text);
    let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
    let col = match before.rfind('\n') {
        Some(nl) => pos - (nl + 1),
        None => pos,
    };
    (line, col)
}

fn arity_message(name: &str, want: Arity, got_fixed: usize, got_variadic: usize) -> String {
    match want {
        Arity::Exact(n) => format!("wrong number of args for {name}: want {n} got {got_fixed}"),
        Arity::AtLeast(n) => {
            format!("wrong number of args for {name}: want at least {n} got {got_variadic}")
        }
    }
}

/// Go's `idealConstant`: a number whose syntax says float is a float, else an int.
fn ideal_constant(n: &Number) -> Result<Value, String> {
    let t = n.text.as_str();
    let is_hex_int =
        t.len() > 2 && t.starts_with('0') && matches!(t.as_bytes()[1], b'x' | b'X') && !t.contains(['p', 'P']);
    if let Some(f) = n.float {
        if !is_hex_int && !t.starts_with('\'') && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(f));
        }
    }
    if let Some(i) = n.int {
        return Ok(Value::Int(i));
    }
    if n.is_uint {
        return Err(format!("{t} overflows int"));
    }
    Ok(Value::Nil)
}

impl<'a> Exec<'a> {
    pub fn new(
        set: &'a HashMap<String, Arc<Tree>>,
        funcs: &'a Funcs,
        missing_key: MissingKey,
        data: &Value,
    ) -> Exec<'a> {
        Exec {
            set,
            funcs,
            missing_key,
            out: String::new(),
            vars: vec![("$".to_string(), data.clone())],
            depth: 0,
        }
    }

    fn err(&self, tree: &Tree, at: At<'_>, msg: impl fmt::Display) -> ExecError {
        let (line, col) = line_col(&tree.text, at.pos());
        ExecError {
            name: tree.name.clone(),
            message: format!(
                "template: {}:{}:{}: executing {} at <{}>: {}",
                tree.parse_name,
                line,
                col,
                quote(&tree.name, false),
                at,
                msg
            ),
        }
    }

    pub fn run(&mut self, tree: &Tree, dot: &Value) -> EResult<()> {
        self.walk_list(tree, dot, &tree.root).map(|_| ())
    }

    fn walk_list(&mut self, tree: &Tree, dot: &Value, nodes: &[Node]) -> EResult<Flow> {
        for node in nodes {
            match self.walk(tree, dot, node)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, tree: &Tree, dot: &Value, node: &Node) -> EResult<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action { pos, pipe } => {
                let v = self.eval_pipeline(tree, dot, pipe)?;
                if pipe.decl.is_empty() {
                    match &v {
                        Value::Nil => self.out.push_str("<no value>"),
                        Value::Func(_) => {
                            return Err(self.err(
                                tree,
                                At::Action(*pos, pipe),
                                format!("can't print {{{{{pipe}}}}} of type {}", v.type_name()),
                            ))
                        }
                        _ => self.out.push_str(&sprint(std::slice::from_ref(&v))),
                    }
                }
            }
            Node::If(c) => return self.walk_if_with(tree, dot, c, false),
            Node::With(c) => return self.walk_if_with(tree, dot, c, true),
            Node::Range(c) => return self.walk_range(tree, dot, c),
            Node::Template(t) => self.walk_template(tree, dot, t)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn enter(&mut self, tree: &Tree, at: At<'_>) -> EResult<()> {
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(self.err(tree, at, format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})")));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_if_with(&mut self, tree: &Tree, dot: &Value, c: &Control, with: bool) -> EResult<Flow> {
        self.enter(tree, At::Pipe(&c.pipe))?;
        let mark = self.vars.len();
        let result = self.if_with_body(tree, dot, c, with);
        self.vars.truncate(mark);
        self.depth -= 1;
        result
    }

    fn if_with_body(&mut self, tree: &Tree, dot: &Value, c: &Control, with: bool) -> EResult<Flow> {
        let val = self.eval_pipeline(tree, dot, &c.pipe)?;
        if val.is_true() {
            let dot = if with { &val } else { dot };
            self.walk_list(tree, dot, &c.list)
        } else if let Some(e) = &c.else_list {
            self.walk_list(tree, dot, e)
        } else {
            Ok(Flow::Normal)
        }
    }

    fn walk_range(&mut self, tree: &Tree, dot: &Value, c: &Control) -> EResult<Flow> {
        self.enter(tree, At::Pipe(&c.pipe))?;
        let mark = self.vars.len();
        let result = self.range_body(tree, dot, c);
        self.vars.truncate(mark);
        self.depth -= 1;
        result.map(|()| Flow::Normal)
    }

    fn range_body(&mut self, tree: &Tree, dot: &Value, c: &Control) -> EResult<()> {
        let val = self.eval_pipeline(tree, dot, &c.pipe)?;
        let mark = self.vars.len();
        let mut ran = false;
        match val.resolved() {
            Value::Int(n) => {
                if c.pipe.decl.len() > 1 {
                    return Err(self.err(
                        tree,
                        At::Pipe(&c.pipe),
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                for i in 0..n.max(0) {
                    ran = true;
                    if self.iteration(tree, c, mark, Value::Nil, Value::Int(i))? {
                        break;
                    }
                }
            }
            Value::List(l) => {
                for (i, e) in l.items().iter().enumerate() {
                    ran = true;
                    let index = Value::Int(i64::try_from(i).unwrap_or(i64::MAX));
                    if self.iteration(tree, c, mark, index, e.clone())? {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, v) in m.entries() {
                    ran = true;
                    if self.iteration(tree, c, mark, Value::from(k.as_str()), v.clone())? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            _ => {
                return Err(self.err(
                    tree,
                    At::Pipe(&c.pipe),
                    format!("range can't iterate over {}", sprint(&[val])),
                ))
            }
        }
        if !ran {
            if let Some(e) = &c.else_list {
                self.walk_list(tree, dot, e)?;
            }
        }
        Ok(())
    }

    /// One pass of a range body; answers whether a `{{break}}` ended the range.
    fn iteration(&mut self, tree: &Tree, c: &Control, mark: usize, index: Value, elem: Value) -> EResult<bool> {
        let decl = &c.pipe.decl;
        if !decl.is_empty() {
            if c.pipe.is_assign {
                let v = if decl.len() > 1 { &index } else { &elem };
                self.set_var(tree, &c.pipe, &decl[0], v.clone())?;
            } else if let Some(top) = self.vars.len().checked_sub(1) {
                self.vars[top].1 = elem.clone();
            }
        }
        if decl.len() > 1 {
            if c.pipe.is_assign {
                self.set_var(tree, &c.pipe, &decl[1], elem.clone())?;
            } else if let Some(second) = self.vars.len().checked_sub(2) {
                self.vars[second].1 = index;
            }
        }
        let flow = self.walk_list(tree, &elem, &c.list);
        self.vars.truncate(mark);
        Ok(matches!(flow?, Flow::Break))
    }

    fn walk_template(&mut self, tree: &Tree, dot: &Value, t: &TemplateCall) -> EResult<()> {
        let set = self.set;
        let Some(called) = set.get(&t.name) else {
            return Err(self.err(
                tree,
                At::Template(t),
                format!("template {} not defined", quote(&t.name, false)),
            ));
        };
        self.enter(tree, At::Template(t))?;
        let result = self.call_template(tree, dot, t, called);
        self.depth -= 1;
        result
    }

    fn call_template(&mut self, tree: &Tree, dot: &Value, t: &TemplateCall, called: &Tree) -> EResult<()> {
        let new_dot = match &t.pipe {
            Some(p) => self.eval_pipeline(tree, dot, p)?,
            None => Value::Nil,
        };
        let saved = std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let result = self.walk_list(called, &new_dot, &called.root);
        self.vars = saved;
        result.map(|_| ())
    }

    fn set_var(&mut self, tree: &Tree, pipe: &Pipe, name: &str, value: Value) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.err(tree, At::Pipe(pipe), format!("undefined variable: {name}"))),
        }
    }

    fn var_value(&self, tree: &Tree, at: At<'_>, name: &str) -> EResult<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.err(tree, at, format!("undefined variable: {name}"))),
        }
    }

    pub(crate) fn eval_pipeline(&mut self, tree: &Tree, dot: &Value, pipe: &Pipe) -> EResult<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(tree, dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(tree, pipe, name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, tree: &Tree, first: &Arg, args: &[Arg], last: &Option<Value>) -> EResult<()> {
        if args.len() > 1 || last.is_some() {
            return Err(self.err(
                tree,
                At::Arg(first),
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    fn eval_command(&mut self, tree: &Tree, dot: &Value, cmd: &Command, last: Option<Value>) -> EResult<Value> {
        let Some(first) = cmd.args.first() else {
            return Ok(Value::Nil);
        };
        match first {
            Arg::Field { idents, .. } => self.eval_field_chain(tree, dot, dot.clone(), first, idents, &cmd.args, last),
            Arg::Chain { node, fields, .. } => self.eval_chain(tree, dot, first, node, fields, &cmd.args, last),
            Arg::Identifier { name, .. } => self.eval_function(tree, dot, first, At::Cmd(cmd), name, &cmd.args, last),
            Arg::Variable { idents, .. } => self.eval_variable(tree, dot, first, idents, &cmd.args, last),
            Arg::Pipe(p) => {
                self.not_a_function(tree, first, &cmd.args, &last)?;
                self.eval_paren(tree, dot, p)
            }
            Arg::Dot(_) => {
                self.not_a_function(tree, first, &cmd.args, &last)?;
                Ok(dot.clone())
            }
            _ => {
                self.not_a_function(tree, first, &cmd.args, &last)?;
                self.eval_literal(tree, first)
            }
        }
    }

    fn eval_literal(&self, tree: &Tree, arg: &Arg) -> EResult<Value> {
        match arg {
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::String { text, .. } => Ok(Value::from(text.as_str())),
            Arg::Number(_, n) => ideal_constant(n).map_err(|m| self.err(tree, At::Arg(arg), m)),
            Arg::Nil(_) => Err(self.err(tree, At::Arg(arg), "nil is not a command")),
            _ => Err(self.err(
                tree,
                At::Arg(arg),
                format!("can't evaluate command {}", quote(&arg.to_string(), false)),
            )),
        }
    }

    fn eval_paren(&mut self, tree: &Tree, dot: &Value, p: &Pipe) -> EResult<Value> {
        self.enter(tree, At::Pipe(p))?;
        let v = self.eval_pipeline(tree, dot, p);
        self.depth -= 1;
        v
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_chain(
        &mut self,
        tree: &Tree,
        dot: &Value,
        chain: &Arg,
        node: &Arg,
        fields: &[String],
        args: &[Arg],
        last: Option<Value>,
    ) -> EResult<Value> {
        if let Arg::Nil(_) = node {
            return Err(self.err(
                tree,
                At::Arg(chain),
                format!("indirection through explicit nil in {chain}"),
            ));
        }
        let receiver = self.eval_arg(tree, dot, node)?;
        self.eval_field_chain(tree, dot, receiver, chain, fields, args, last)
    }

    fn eval_variable(
        &mut self,
        tree: &Tree,
        dot: &Value,
        var: &Arg,
        idents: &[String],
        args: &[Arg],
        last: Option<Value>,
    ) -> EResult<Value> {
        let name = idents.first().map_or("$", String::as_str);
        let value = self.var_value(tree, At::Arg(var), name)?;
        if idents.len() <= 1 {
            self.not_a_function(tree, var, args, &last)?;
            return Ok(value);
        }
        self.eval_field_chain(tree, dot, value, var, &idents[1..], args, last)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        tree: &Tree,
        dot: &Value,
        receiver: Value,
        node: &Arg,
        idents: &[String],
        args: &[Arg],
        last: Option<Value>,
    ) -> EResult<Value> {
        let Some((final_ident, middle)) = idents.split_last() else {
            return Ok(receiver);
        };
        let mut receiver = receiver;
        for ident in middle {
            receiver = self.eval_field(tree, dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(tree, dot, final_ident, node, args, last, receiver)
    }

    /// The arguments after the command's first word, evaluated, and the piped value.
    fn eval_args(&mut self, tree: &Tree, dot: &Value, args: &[Arg], last: Option<Value>) -> EResult<Vec<Value>> {
        let mut argv = Vec::with_capacity(args.len());
        for a in args.iter().skip(1) {
            argv.push(self.eval_arg(tree, dot, a)?);
        }
        argv.extend(last);
        Ok(argv)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        tree: &Tree,
        dot: &Value,
        name: &str,
        node: &Arg,
        args: &[Arg],
        last: Option<Value>,
        receiver: Value,
    ) -> EResult<Value> {
        let has_args = args.len() > 1 || last.is_some();
        let at = At::Arg(node);
        let map = match &receiver {
            Value::Nil => {
                if self.missing_key == MissingKey::Error {
                    return Err(self.err(tree, at, format!("nil data; no entry for key {}", quote(name, false))));
                }
                return Ok(Value::Nil);
            }
            Value::Object(o) => {
                let argv = if has_args {
                    self.eval_args(tree, dot, args, last)?
                } else {
                    Vec::new()
                };
                match o.method(name, &argv) {
                    Some(Ok(v)) => return Ok(v),
                    Some(Err(CallError::WrongArgs { want, got })) => {
                        return Err(self.err(tree, at, arity_message(name, want, got, got)))
                    }
                    Some(Err(CallError::Failed(m))) => {
                        return Err(self.err(tree, at, format!("error calling {name}: {m}")))
                    }
                    None => {}
                }
                if let Some(v) = o.field(name) {
                    if has_args {
                        return Err(self.err(
                            tree,
                            at,
                            format!("{name} has arguments but cannot be invoked as function"),
                        ));
                    }
                    return Ok(v);
                }
                match o.underlying() {
                    Some(Value::Map(m)) => m,
                    _ => {
                        return Err(self.err(
                            tree,
                            at,
                            format!("can't evaluate field {name} in type {}", o.type_name()),
                        ))
                    }
                }
            }
            Value::Map(m) => m.clone(),
            other => {
                return Err(self.err(
                    tree,
                    at,
                    format!("can't evaluate field {name} in type {}", other.type_name()),
                ))
            }
        };
        if has_args {
            return Err(self.err(tree, at, format!("{name} is not a method but has arguments")));
        }
        match map.get(name) {
            Some(v) => Ok(v.clone()),
            None => match self.missing_key {
                MissingKey::Default => Ok(Value::Nil),
                MissingKey::Zero => Ok(map.elem().zero()),
                MissingKey::Error => {
                    Err(self.err(tree, at, format!("map has no entry for key {}", quote(name, false))))
                }
            },
        }
    }

    /// Evaluates an argument of a function or method that takes any value.
    fn eval_arg(&mut self, tree: &Tree, dot: &Value, arg: &Arg) -> EResult<Value> {
        match arg {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Field { idents, .. } => {
                self.eval_field_chain(tree, dot, dot.clone(), arg, idents, std::slice::from_ref(arg), None)
            }
            Arg::Variable { idents, .. } => self.eval_variable(tree, dot, arg, idents, &[], None),
            Arg::Pipe(p) => self.eval_paren(tree, dot, p),
            Arg::Identifier { name, .. } => {
                self.eval_function(tree, dot, arg, At::Arg(arg), name, std::slice::from_ref(arg), None)
            }
            Arg::Chain { node, fields, .. } => self.eval_chain(tree, dot, arg, node, fields, &[], None),
            Arg::Bool(..) | Arg::String { .. } | Arg::Number(..) => self.eval_literal(tree, arg),
        }
    }

    /// Evaluates `printf`'s format, which Go types as a string.
    fn eval_string_arg(&mut self, tree: &Tree, dot: &Value, arg: &Arg) -> EResult<Value> {
        let v = match arg {
            Arg::String { text, .. } => return Ok(Value::from(text.as_str())),
            Arg::Nil(_) => return Err(self.err(tree, At::Arg(arg), "cannot assign nil to string")),
            Arg::Bool(..) | Arg::Number(..) => {
                return Err(self.err(tree, At::Arg(arg), format!("expected string; found {arg}")))
            }
            _ => self.eval_arg(tree, dot, arg)?,
        };
        self.check_string(tree, At::Arg(arg), v)
    }

    fn check_string(&self, tree: &Tree, at: At<'_>, v: Value) -> EResult<Value> {
        match v {
            Value::String(_) => Ok(v),
            Value::Nil => Err(self.err(tree, at, "invalid value; expected string")),
            other => Err(self.err(
                tree,
                at,
                format!("wrong type for value; expected string; got {}", other.type_name()),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_function(
        &mut self,
        tree: &Tree,
        dot: &Value,
        ident: &Arg,
        call_at: At<'_>,
        name: &str,
        args: &[Arg],
        last: Option<Value>,
    ) -> EResult<Value> {
        let Some(entry) = self.funcs.get(name).cloned() else {
            return Err(self.err(
                tree,
                At::Arg(ident),
                format!("{} is not a defined function", quote(name, false)),
            ));
        };
        let fixed = args.len().saturating_sub(1);
        let num_in = fixed + usize::from(last.is_some());
        let arity = match &entry {
            Entry::Builtin(_, a) | Entry::User(a, _) => *a,
        };
        if !arity.accepts(num_in) {
            return Err(self.err(tree, At::Arg(ident), arity_message(name, arity, num_in, fixed)));
        }
        let result = match entry {
            Entry::User(_, f) => {
                let argv = self.eval_args(tree, dot, args, last)?;
                f(&argv)
            }
            Entry::Builtin(b, _) => match b {
                Builtin::And | Builtin::Or => {
                    let is_or = b == Builtin::Or;
                    let mut v = Value::Nil;
                    for a in args.iter().skip(1) {
                        v = self.eval_arg(tree, dot, a)?;
                        if v.is_true() == is_or {
                            return Ok(v);
                        }
                    }
                    return Ok(last.unwrap_or(v));
                }
                Builtin::Printf => {
                    let (format, rest) = match args.get(1) {
                        Some(a) => {
                            let f = self.eval_string_arg(tree, dot, a)?;
                            let mut rest = Vec::new();
                            for a in args.iter().skip(2) {
                                rest.push(self.eval_arg(tree, dot, a)?);
                            }
                            rest.extend(last);
                            (f, rest)
                        }
                        None => {
                            let f = self.check_string(tree, call_at, last.unwrap_or_default())?;
                            (f, Vec::new())
                        }
                    };
                    Ok(Value::from(sprintf(format.as_str().unwrap_or_default(), &rest)))
                }
                Builtin::Call => {
                    let callee = match args.get(1) {
                        Some(a) => a.to_string(),
                        None => last.as_ref().map(|v| v.type_name()).unwrap_or_default(),
                    };
                    let argv = self.eval_args(tree, dot, args, last)?;
                    call(&callee, &argv)
                }
                _ => {
                    let argv = self.eval_args(tree, dot, args, last)?;
                    apply(b, &argv)
                }
            },
        };
        result.map_err(|m| self.err(tree, call_at, format!("error calling {name}: {m}")))
    }
}

/// The `call` builtin: calls the function value `argv[0]` with the rest.
fn call(callee: &str, argv: &[Value]) -> Result<Value, String> {
    match argv.split_first() {
        Some((Value::Func(f), rest)) => (f.0)(rest),
        Some((Value::Nil, _)) | None => Err("call of nil".to_string()),
        Some((other, _)) => Err(format!("non-function {callee} of type {}", other.type_name())),
    }
}

/// The builtins whose arguments are all evaluated before the call.
fn apply(b: Builtin, argv: &[Value]) -> Result<Value, String> {
    let first = argv.first().cloned().unwrap_or_default();
    let second = argv.get(1).cloned().unwrap_or_default();
    let rest = argv.get(1..).unwrap_or_default();
    Ok(match b {
        Builtin::Not => Value::Bool(!first.is_true()),
        Builtin::Len => funcs::length(&first)?,
        Builtin::Index => funcs::index(&first, rest)?,
        Builtin::Slice => funcs::slice(&first, rest)?,
        Builtin::Print => Value::from(sprint(argv)),
        Builtin::Println => Value::from(sprintln(argv)),
        Builtin::Eq => Value::Bool(funcs::eq(&first, rest)?),
        Builtin::Ne => Value::Bool(!funcs::eq(&first, rest)?),
        Builtin::Lt => Value::Bool(funcs::lt(&first, &second)?),
        Builtin::Le => Value::Bool(funcs::le(&first, &second)?),
        Builtin::Gt => Value::Bool(!funcs::le(&first, &second)?),
        Builtin::Ge => Value::Bool(!funcs::lt(&first, &second)?),
        Builtin::Html => Value::from(funcs::html(argv)),
        Builtin::Js => Value::from(funcs::js(argv)),
        Builtin::UrlQuery => Value::from(funcs::urlquery(argv)),
        Builtin::And | Builtin::Or | Builtin::Printf | Builtin::Call => Value::Nil,
    })
}
