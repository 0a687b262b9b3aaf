//! The lexer: template text to items (text, delimiters, and the words, literals and
//! punctuation inside actions), following Go's `text/template/parse` lexer state by
//! state, trim markers (`{{- ` and ` -}}`) and comments included.
//!
//! Invariant: the item list always ends with exactly one `Eof` or `Error` item, and every
//! item's `pos` is a byte offset of a char boundary in the input.

use std::fmt;

use crate::quote::{quote, sharp_u};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemKind {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl ItemKind {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            ItemKind::Block
                | ItemKind::Break
                | ItemKind::Continue
                | ItemKind::Dot
                | ItemKind::Define
                | ItemKind::Else
                | ItemKind::End
                | ItemKind::If
                | ItemKind::Nil
                | ItemKind::Range
                | ItemKind::Template
                | ItemKind::With
        )
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub kind: ItemKind,
    pub pos: usize,
    pub val: String,
    pub line: usize,
}

impl fmt::Display for Item {
    /// How Go's parser names an item in its messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ItemKind::Eof => f.write_str("EOF"),
            ItemKind::Error => f.write_str(&self.val),
            k if k.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", quote(&head, false))
            }
            _ => f.write_str(&quote(&self.val, false)),
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: Option<char>) -> bool {
    matches!(c, Some(' ' | '\t' | '\r' | '\n'))
}

fn is_alnum(c: Option<char>) -> bool {
    matches!(c, Some(c) if c == '_' || c.is_alphabetic() || c.is_numeric())
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && matches!(b[1], b' ' | b'\t' | b'\r' | b'\n')
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && matches!(b[0], b' ' | b'\t' | b'\r' | b'\n') && b[1] == b'-'
}

fn is_trim_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

#[derive(Clone, Copy)]
enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    width: usize,
    paren_depth: i64,
    break_ok: bool,
    continue_ok: bool,
    newlines: Vec<usize>,
    items: Vec<Item>,
}

/// Lexes the whole input. `break_ok`/`continue_ok` say whether those words are keywords
/// (they are not when a function of that name is defined, as in Go).
pub(crate) fn lex(input: &str, break_ok: bool, continue_ok: bool) -> Vec<Item> {
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        width: 0,
        paren_depth: 0,
        break_ok,
        continue_ok,
        newlines: input
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i)
            .collect(),
        items: Vec::new(),
    };
    let mut state = Some(State::Text);
    while let Some(s) = state {
        state = l.step(s);
    }
    if !matches!(l.items.last().map(|i| i.kind), Some(ItemKind::Eof | ItemKind::Error)) {
        l.start = l.input.len();
        l.emit(ItemKind::Eof);
    }
    l.items
}

impl Lexer<'_> {
    fn line_at(&self, pos: usize) -> usize {
        1 + self.newlines.partition_point(|&p| p < pos)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.input[self.pos..].chars().next();
        self.width = c.map_or(0, char::len_utf8);
        self.pos += self.width;
        c
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    fn emit(&mut self, kind: ItemKind) {
        self.items.push(Item {
            kind,
            pos: self.start,
            val: self.input[self.start..self.pos].to_string(),
            line: self.line_at(self.start),
        });
        self.start = self.pos;
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn error(&mut self, msg: String) -> Option<State> {
        self.items.push(Item {
            kind: ItemKind::Error,
            pos: self.start,
            val: msg,
            line: self.line_at(self.start),
        });
        None
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while matches!(self.next(), Some(c) if valid.contains(c)) {}
        self.backup();
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.input[self.pos..];
        if has_right_trim(rest) && rest[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (rest.starts_with(RIGHT), false)
    }

    fn at_terminator(&self) -> bool {
        let c = self.peek();
        is_space(c) || matches!(c, None | Some('.' | ',' | '|' | ':' | ')' | '(') | Some('}'))
    }

    fn step(&mut self, state: State) -> Option<State> {
        match state {
            State::Text => self.lex_text(),
            State::LeftDelim => self.lex_left_delim(),
            State::Comment => self.lex_comment(),
            State::RightDelim => self.lex_right_delim(),
            State::InsideAction => self.lex_inside_action(),
            State::Space => self.lex_space(),
            State::Identifier => self.lex_identifier(),
            State::Field => self.lex_field_or_variable(ItemKind::Field),
            State::Variable => {
                if self.at_terminator() {
                    self.emit(ItemKind::Variable);
                    return Some(State::InsideAction);
                }
                self.lex_field_or_variable(ItemKind::Variable)
            }
            State::Char => self.lex_quoted('\'', ItemKind::CharConstant),
            State::Quote => self.lex_quoted('"', ItemKind::String),
            State::RawQuote => self.lex_raw_quote(),
            State::Number => self.lex_number(),
        }
    }

    fn lex_text(&mut self) -> Option<State> {
        self.width = 0;
        if let Some(x) = self.input[self.pos..].find(LEFT) {
            self.pos += x;
            let mut trim = 0;
            if has_left_trim(&self.input[self.pos + LEFT.len()..]) {
                let text = &self.input[self.start..self.pos];
                trim = text.len() - text.trim_end_matches(is_trim_space).len();
            }
            self.pos -= trim;
            if self.pos > self.start {
                self.emit(ItemKind::Text);
            }
            self.pos += trim;
            self.ignore();
            return Some(State::LeftDelim);
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.emit(ItemKind::Text);
        }
        self.emit(ItemKind::Eof);
        None
    }

    fn lex_left_delim(&mut self) -> Option<State> {
        self.pos += LEFT.len();
        let trim = has_left_trim(&self.input[self.pos..]);
        let after = if trim { 2 } else { 0 };
        if self.input[self.pos + after..].starts_with("/*") {
            self.pos += after;
            self.ignore();
            return Some(State::Comment);
        }
        self.emit(ItemKind::LeftDelim);
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        Some(State::InsideAction)
    }

    fn lex_comment(&mut self) -> Option<State> {
        self.pos += 2;
        let Some(i) = self.input[self.pos..].find("*/") else {
            return self.error("unclosed comment".to_string());
        };
        self.pos += i + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".to_string());
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            let rest = &self.input[self.pos..];
            self.pos += rest.len() - rest.trim_start_matches(is_trim_space).len();
        }
        self.ignore();
        Some(State::Text)
    }

    fn lex_right_delim(&mut self) -> Option<State> {
        let trim = has_right_trim(&self.input[self.pos..]);
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT.len();
        self.emit(ItemKind::RightDelim);
        if trim {
            let rest = &self.input[self.pos..];
            self.pos += rest.len() - rest.trim_start_matches(is_trim_space).len();
            self.ignore();
        }
        Some(State::Text)
    }

    fn lex_inside_action(&mut self) -> Option<State> {
        if self.at_right_delim().0 {
            if self.paren_depth == 0 {
                return Some(State::RightDelim);
            }
            return self.error("unclosed left paren".to_string());
        }
        let c = self.next();
        match c {
            None => return self.error("unclosed action".to_string()),
            _ if is_space(c) => {
                self.backup();
                return Some(State::Space);
            }
            Some('=') => self.emit(ItemKind::Assign),
            Some(':') => {
                if self.next() != Some('=') {
                    return self.error("expected :=".to_string());
                }
                self.emit(ItemKind::Declare);
            }
            Some('|') => self.emit(ItemKind::Pipe),
            Some('"') => return Some(State::Quote),
            Some('`') => return Some(State::RawQuote),
            Some('$') => return Some(State::Variable),
            Some('\'') => return Some(State::Char),
            Some('.') if self.pos < self.input.len() && !self.input.as_bytes()[self.pos].is_ascii_digit() => {
                return Some(State::Field);
            }
            Some('.' | '+' | '-' | '0'..='9') => {
                self.backup();
                return Some(State::Number);
            }
            _ if is_alnum(c) => {
                self.backup();
                return Some(State::Identifier);
            }
            Some('(') => {
                self.emit(ItemKind::LeftParen);
                self.paren_depth += 1;
            }
            Some(')') => {
                self.emit(ItemKind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Go's lexer hands over the error in place of the parenthesis.
                    self.items.pop();
                    return self.error(format!("unexpected right paren {}", sharp_u(')')));
                }
            }
            Some(c) if c.is_ascii() && crate::quote::is_print(c) => self.emit(ItemKind::Char),
            Some(c) => return self.error(format!("unrecognized character in action: {}", sharp_u(c))),
        }
        Some(State::InsideAction)
    }

    fn lex_space(&mut self) -> Option<State> {
        let mut num = 0;
        while is_space(self.peek()) {
            self.next();
            num += 1;
        }
        let before = self.pos - 1;
        if has_right_trim(&self.input[before..]) && self.input[before + 2..].starts_with(RIGHT) {
            self.pos = before;
            if num == 1 {
                return Some(State::RightDelim);
            }
        }
        self.emit(ItemKind::Space);
        Some(State::InsideAction)
    }

    fn lex_identifier(&mut self) -> Option<State> {
        loop {
            let c = self.next();
            if is_alnum(c) {
                continue;
            }
            self.backup();
            if !self.at_terminator() {
                return self.error(format!("bad character {}", sharp_u(c.unwrap_or('\u{FFFD}'))));
            }
            let word = &self.input[self.start..self.pos];
            let kind = match word {
                "block" => ItemKind::Block,
                "break" if self.break_ok => ItemKind::Break,
                "continue" if self.continue_ok => ItemKind::Continue,
                "define" => ItemKind::Define,
                "else" => ItemKind::Else,
                "end" => ItemKind::End,
                "if" => ItemKind::If,
                "range" => ItemKind::Range,
                "nil" => ItemKind::Nil,
                "template" => ItemKind::Template,
                "with" => ItemKind::With,
                "true" | "false" => ItemKind::Bool,
                _ => ItemKind::Identifier,
            };
            self.emit(kind);
            return Some(State::InsideAction);
        }
    }

    fn lex_field_or_variable(&mut self, kind: ItemKind) -> Option<State> {
        if self.at_terminator() {
            self.emit(if kind == ItemKind::Variable {
                ItemKind::Variable
            } else {
                ItemKind::Dot
            });
            return Some(State::InsideAction);
        }
        let mut c;
        loop {
            c = self.next();
            if !is_alnum(c) {
                self.backup();
                break;
            }
        }
        if !self.at_terminator() {
            return self.error(format!("bad character {}", sharp_u(c.unwrap_or('\u{FFFD}'))));
        }
        self.emit(kind);
        Some(State::InsideAction)
    }

    fn lex_quoted(&mut self, quote: char, kind: ItemKind) -> Option<State> {
        let what = if quote == '"' {
            "unterminated quoted string"
        } else {
            "unterminated character constant"
        };
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return self.error(what.to_string());
                    }
                }
                None | Some('\n') => return self.error(what.to_string()),
                Some(c) if c == quote => break,
                _ => {}
            }
        }
        self.emit(kind);
        Some(State::InsideAction)
    }

    fn lex_raw_quote(&mut self) -> Option<State> {
        loop {
            match self.next() {
                None => return self.error("unterminated raw quoted string".to_string()),
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(ItemKind::RawString);
        Some(State::InsideAction)
    }

    fn lex_number(&mut self) -> Option<State> {
        if !self.scan_number() {
            let text = quote(&self.input[self.start..self.pos], false);
            return self.error(format!("bad number syntax: {text}"));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let text = quote(&self.input[self.start..self.pos], false);
                return self.error(format!("bad number syntax: {text}"));
            }
            self.emit(ItemKind::Complex);
        } else {
            self.emit(ItemKind::Number);
        }
        Some(State::InsideAction)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if is_alnum(self.peek()) {
            self.next();
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(ItemKind, String)> {
        lex(s, true, true).into_iter().map(|i| (i.kind, i.val)).collect()
    }

    #[test]
    fn trims_and_comments() {
        use ItemKind::*;
        let k = kinds("a  {{- 3 -}}  b{{/* c */}}d{{- /* e */ -}} f");
        assert_eq!(
            k,
            vec![
                (Text, "a".into()),
                (LeftDelim, "{{".into()),
                (Number, "3".into()),
                (RightDelim, "}}".into()),
                (Text, "b".into()),
                (Text, "d".into()),
                (Text, "f".into()),
                (Eof, "".into()),
            ]
        );
        assert_eq!(kinds("{{-3}}")[1], (Number, "-3".into()));
    }

    #[test]
    fn reports_errors() {
        let last = |s: &str| lex(s, true, true).pop().map(|i| i.val).unwrap_or_default();
        assert_eq!(last("{{.A"), "unclosed action");
        assert_eq!(last("{{/* x"), "unclosed comment");
        assert_eq!(last("{{/* x */ }}"), "comment ends before closing delimiter");
        assert_eq!(last("{{(1}}"), "unclosed left paren");
        assert_eq!(last("{{1)}}"), "unexpected right paren U+0029 ')'");
        assert_eq!(last("{{\"ab}}"), "unterminated quoted string");
        assert_eq!(last("{{3k}}"), "bad number syntax: \"3k\"");
        assert_eq!(last("{{.A#}}"), "bad character U+0023 '#'");
        assert_eq!(last("{{\u{1}}}"), "unrecognized character in action: U+0001");
    }
}
