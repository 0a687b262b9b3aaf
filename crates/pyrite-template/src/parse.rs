//! The parser: items to trees, one per template the text defines (`{{define}}`,
//! `{{block}}`) plus the text's own. It follows Go's recursive descent, so it refuses
//! what Go refuses, at parse time and with Go's message: unknown functions, undefined
//! variables, unbalanced `{{end}}`/`{{else}}`, unclosed actions, `{{break}}` outside a
//! range, two non-empty definitions of one name in one text.
//!
//! Invariant: nesting of parentheses and control structures is bounded
//! ([`MAX_DEPTH`]), so neither parsing nor executing nor dropping a tree can exhaust the
//! stack, whatever the input.

use std::fmt;
use std::sync::Arc;

use crate::ast::{Arg, Command, Control, Node, Number, Pipe, TemplateCall};
use crate::error::ParseError;
use crate::funcs::Funcs;
use crate::lex::{lex, Item, ItemKind};
use crate::quote::{quote, unquote};

/// The deepest nesting of parentheses, and separately of control structures, accepted.
pub(crate) const MAX_DEPTH: usize = 100;

/// One parsed template.
pub(crate) struct Tree {
    pub name: String,
    /// The name of the text it was parsed from, which error locations name.
    pub parse_name: String,
    pub text: Arc<str>,
    pub root: Vec<Node>,
}

/// What `textOrAction` found: a node, or the `{{end}}`/`{{else}}` closing a list.
enum Parsed {
    Node(Node),
    End,
    Else,
}

impl fmt::Display for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Parsed::End => f.write_str("{{end}}"),
            Parsed::Else => f.write_str("{{else}}"),
            Parsed::Node(_) => f.write_str("node"),
        }
    }
}

type PResult<T> = Result<T, ParseError>;

struct Parser<'a> {
    items: Vec<Item>,
    idx: usize,
    hi: usize,
    parse_name: &'a str,
    text: Arc<str>,
    funcs: &'a Funcs,
    vars: Vec<String>,
    range_depth: usize,
    paren_depth: usize,
    control_depth: usize,
    action_line: usize,
    trees: Vec<Tree>,
}

/// Parses `text`, named `name`, into its trees: those it defines, then its own.
pub(crate) fn parse(name: &str, text: &str, funcs: &Funcs) -> PResult<Vec<Tree>> {
    let items = lex(text, !funcs.contains("break"), !funcs.contains("continue"));
    let mut p = Parser {
        items,
        idx: 0,
        hi: 0,
        parse_name: name,
        text: Arc::from(text),
        funcs,
        vars: vec!["$".to_string()],
        range_depth: 0,
        paren_depth: 0,
        control_depth: 0,
        action_line: 0,
        trees: Vec::new(),
    };
    let root = p.parse_top()?;
    p.add(name.to_string(), root)?;
    Ok(p.trees)
}

/// Go's `IsEmptyTree`: nothing but white space (and comments).
pub(crate) fn is_empty(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text(t) => t.trim().is_empty(),
        _ => false,
    })
}

impl Parser<'_> {
    fn next(&mut self) -> Item {
        let i = self.idx.min(self.items.len().saturating_sub(1));
        self.idx += 1;
        self.hi = self.hi.max(i);
        self.items.get(i).cloned().unwrap_or(Item {
            kind: ItemKind::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        })
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&mut self) -> Item {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let t = self.next();
            if t.kind != ItemKind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn errorf(&self, msg: &str) -> ParseError {
        let line = self.items.get(self.hi).map_or(1, |i| i.line);
        ParseError {
            message: format!("template: {}:{}: {}", self.parse_name, line, msg),
        }
    }

    fn unexpected(&self, token: &Item, context: &str) -> ParseError {
        if token.kind == ItemKind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.parse_name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(&format!("{token}{extra}"));
        }
        self.errorf(&format!("unexpected {token} in {context}"))
    }

    /// Adds a tree to this text's set, as Go's `Tree.add` does.
    fn add(&mut self, name: String, root: Vec<Node>) -> PResult<()> {
        if let Some(i) = self.trees.iter().position(|t| t.name == name) {
            if is_empty(&self.trees[i].root) {
                self.trees[i].root = root;
                return Ok(());
            }
            if !is_empty(&root) {
                return Err(self.errorf(&format!(
                    "template: multiple definition of template {}",
                    quote(&name, false)
                )));
            }
            return Ok(());
        }
        self.trees.push(Tree {
            name,
            parse_name: self.parse_name.to_string(),
            text: self.text.clone(),
            root,
        });
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != ItemKind::Eof {
            if self.peek().kind == ItemKind::LeftDelim {
                let at = self.idx;
                self.next();
                if self.next_non_space().kind == ItemKind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = at;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                other => return Err(self.errorf(&format!("unexpected {other}"))),
            }
        }
        Ok(root)
    }

    /// Parses the body of a `{{define}}` or `{{block}}`, which sees only `$`.
    fn parse_body(&mut self, context: &str) -> PResult<Vec<Node>> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let result = self.item_list();
        self.vars = vars;
        self.range_depth = range_depth;
        let (list, end) = result?;
        if !matches!(end, Parsed::End) {
            return Err(self.errorf(&format!("unexpected {end} in {context}")));
        }
        Ok(list)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let tok = self.next_non_space();
        if !matches!(tok.kind, ItemKind::String | ItemKind::RawString) {
            return Err(self.unexpected(&tok, CONTEXT));
        }
        let name = unquote(&tok.val).ok_or_else(|| self.errorf("invalid syntax"))?;
        let close = self.next_non_space();
        if close.kind != ItemKind::RightDelim {
            return Err(self.unexpected(&close, CONTEXT));
        }
        let list = self.parse_body(CONTEXT)?;
        self.add(name, list)
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Parsed)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != ItemKind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let tok = self.next_non_space();
        match tok.kind {
            ItemKind::Text => Ok(Parsed::Node(Node::Text(tok.val))),
            ItemKind::LeftDelim => {
                self.action_line = tok.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&tok, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let tok = self.next_non_space();
        let node = match tok.kind {
            ItemKind::Block => self.block_control()?,
            ItemKind::Break | ItemKind::Continue => {
                let what = if tok.kind == ItemKind::Break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                let close = self.next_non_space();
                if close.kind != ItemKind::RightDelim {
                    return Err(self.unexpected(&close, what));
                }
                if self.range_depth == 0 {
                    return Err(self.errorf(&format!("{what} outside {{{{range}}}}")));
                }
                if tok.kind == ItemKind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            ItemKind::Else => {
                let peek = self.peek_non_space();
                if !matches!(peek.kind, ItemKind::If | ItemKind::With) {
                    let close = self.next_non_space();
                    if close.kind != ItemKind::RightDelim {
                        return Err(self.unexpected(&close, "else"));
                    }
                }
                return Ok(Parsed::Else);
            }
            ItemKind::End => {
                let close = self.next_non_space();
                if close.kind != ItemKind::RightDelim {
                    return Err(self.unexpected(&close, "end"));
                }
                return Ok(Parsed::End);
            }
            ItemKind::If => Node::If(self.parse_control("if")?),
            ItemKind::Range => Node::Range(self.parse_control("range")?),
            ItemKind::With => Node::With(self.parse_control("with")?),
            ItemKind::Template => self.template_control()?,
            _ => {
                self.backup();
                let first = self.peek();
                let pipe = self.pipeline("command", ItemKind::RightDelim)?;
                Node::Action { pos: first.pos, pipe }
            }
        };
        Ok(Parsed::Node(node))
    }

    fn parse_control(&mut self, context: &str) -> PResult<Control> {
        if self.control_depth >= MAX_DEPTH {
            return Err(self.errorf("max nesting depth exceeded"));
        }
        self.control_depth += 1;
        let saved = self.vars.len();
        let result = self.parse_control_inner(context);
        self.vars.truncate(saved);
        self.control_depth -= 1;
        result
    }

    fn parse_control_inner(&mut self, context: &str) -> PResult<Control> {
        let pipe = self.pipeline(context, ItemKind::RightDelim)?;
        let is_range = context == "range";
        if is_range {
            self.range_depth += 1;
        }
        let result = self.item_list();
        if is_range {
            self.range_depth -= 1;
        }
        let (list, next) = result?;
        let else_list = match next {
            Parsed::Else => {
                let peek = self.peek().kind;
                if context == "if" && peek == ItemKind::If {
                    self.next();
                    Some(vec![Node::If(self.parse_control("if")?)])
                } else if context == "with" && peek == ItemKind::With {
                    self.next();
                    Some(vec![Node::With(self.parse_control("with")?)])
                } else {
                    let (l, next) = self.item_list()?;
                    if !matches!(next, Parsed::End) {
                        return Err(self.errorf(&format!("expected end; found {next}")));
                    }
                    Some(l)
                }
            }
            _ => None,
        };
        Ok(Control { pipe, list, else_list })
    }

    fn template_name(&mut self, tok: &Item, context: &str) -> PResult<String> {
        match tok.kind {
            ItemKind::String | ItemKind::RawString => unquote(&tok.val).ok_or_else(|| self.errorf("invalid syntax")),
            _ => Err(self.unexpected(tok, context)),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, CONTEXT)?;
        let pipe = if self.next_non_space().kind != ItemKind::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, ItemKind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template(TemplateCall {
            pos: tok.pos,
            name,
            pipe,
        }))
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemKind::RightDelim)?;
        if self.control_depth >= MAX_DEPTH {
            return Err(self.errorf("max nesting depth exceeded"));
        }
        self.control_depth += 1;
        let body = self.parse_body(CONTEXT);
        self.control_depth -= 1;
        self.add(name.clone(), body?)?;
        Ok(Node::Template(TemplateCall {
            pos: tok.pos,
            name,
            pipe: Some(pipe),
        }))
    }

    fn pipeline(&mut self, context: &str, end: ItemKind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.kind != ItemKind::Variable {
                break;
            }
            let at = self.idx;
            self.next();
            let next = self.peek_non_space();
            if matches!(next.kind, ItemKind::Assign | ItemKind::Declare) {
                pipe.is_assign = next.kind == ItemKind::Assign;
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
                break;
            }
            if next.kind == ItemKind::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(v.val.clone());
                self.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().kind {
                        ItemKind::Variable | ItemKind::RightDelim | ItemKind::RightParen => continue,
                        _ => return Err(self.errorf("range can only initialize variables")),
                    }
                }
                return Err(self.errorf(&format!("too many declarations in {context}")));
            }
            self.idx = at;
            break;
        }
        loop {
            let tok = self.next_non_space();
            if tok.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match tok.kind {
                ItemKind::Bool
                | ItemKind::CharConstant
                | ItemKind::Complex
                | ItemKind::Dot
                | ItemKind::Field
                | ItemKind::Identifier
                | ItemKind::Number
                | ItemKind::Nil
                | ItemKind::RawString
                | ItemKind::String
                | ItemKind::Variable
                | ItemKind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&tok, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(&format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::String { .. })
            ) {
                return Err(self.errorf(&format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let start = self.peek_non_space();
        let mut cmd = Command {
            pos: start.pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let tok = self.next();
            match tok.kind {
                ItemKind::Space => continue,
                ItemKind::RightDelim | ItemKind::RightParen => self.backup(),
                ItemKind::Pipe => {}
                _ => return Err(self.unexpected(&tok, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != ItemKind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == ItemKind::Field {
            let f = self.next();
            fields.push(f.val.get(1..).unwrap_or_default().to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool(..) | Arg::String { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return Err(self.errorf(&format!("unexpected . after term {}", quote(&node.to_string(), false))));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let tok = self.next_non_space();
        let arg = match tok.kind {
            ItemKind::Identifier => {
                if !self.funcs.contains(&tok.val) {
                    return Err(self.errorf(&format!("function {} not defined", quote(&tok.val, false))));
                }
                Arg::Identifier {
                    pos: tok.pos,
                    name: tok.val,
                }
            }
            ItemKind::Dot => Arg::Dot(tok.pos),
            ItemKind::Nil => Arg::Nil(tok.pos),
            ItemKind::Variable => {
                if !self.vars.contains(&tok.val) {
                    return Err(self.errorf(&format!("undefined variable {}", quote(&tok.val, false))));
                }
                Arg::Variable {
                    pos: tok.pos,
                    idents: vec![tok.val],
                }
            }
            ItemKind::Field => Arg::Field {
                pos: tok.pos,
                idents: tok
                    .val
                    .get(1..)
                    .unwrap_or_default()
                    .split('.')
                    .map(str::to_string)
                    .collect(),
            },
            ItemKind::Bool => Arg::Bool(tok.pos, tok.val == "true"),
            ItemKind::CharConstant | ItemKind::Complex | ItemKind::Number => {
                let n = Number::parse(
                    &tok.val,
                    tok.kind == ItemKind::CharConstant,
                    tok.kind == ItemKind::Complex,
                )
                .map_err(|e| self.errorf(&e))?;
                Arg::Number(tok.pos, n)
            }
            ItemKind::LeftParen => {
                if self.paren_depth >= MAX_DEPTH {
                    return Err(self.errorf("max expression depth exceeded"));
                }
                self.paren_depth += 1;
                let pipe = self.pipeline("parenthesized pipeline", ItemKind::RightParen);
                self.paren_depth -= 1;
                Arg::Pipe(Box::new(pipe?))
            }
            ItemKind::String | ItemKind::RawString => {
                let text = unquote(&tok.val).ok_or_else(|| self.errorf("invalid syntax"))?;
                Arg::String {
                    pos: tok.pos,
                    quoted: tok.val,
                    text,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }
}
