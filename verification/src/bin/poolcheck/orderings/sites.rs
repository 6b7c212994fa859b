//! The ordering sites of the core, found by a small lexer over `src/`.
//!
//! A *site* is one `Ordering::X` argument of an atomic operation (a load, a
//! store, a read-modify-write, each ordering of a compare-exchange), one
//! `fence(Ordering::X)` call, one call of the facade's `light_fence()` /
//! `heavy_fence()`, or a constant `const NAME: Ordering = Ordering::X;`.
//! Lines that exist only in a mutant build (`#[cfg(victim_pool_mutant =
//! ...)]`, not under `not(...)`) are skipped: they are not the core.
//!
//! A site's id is `file:scope:operation#n`: the file under `src/` without
//! `.rs`, the enclosing impl types and functions joined by `::`, the
//! receiver's last field and the method (`head_tail.fetch_add`; a
//! compare-exchange adds `/success` or `/failure`), and the occurrence of
//! that operation in that scope. No line number is part of the id, so ids
//! survive edits elsewhere; the line is recorded for display.
//!
//! This file depends on `std` only: `tests/orderings_fresh.rs` includes it
//! with `#[path]`.

use std::fmt;
use std::path::Path;

/// The files whose orderings the sweep covers (relative to the workspace root).
pub const CORE_FILES: &[&str] = &[
    "src/dequeue.rs",
    "src/chain.rs",
    "src/pool/cleanup.rs",
    "src/pool/guard.rs",
    "src/pool/mod.rs",
    "src/pool/process_wide.rs",
    "src/pool/shared.rs",
    "src/pool/slot.rs",
    "src/slot_marks.rs",
];

/// What kind of operation an ordering belongs to: decides which orderings
/// Rust allows there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An atomic load.
    Load,
    /// An atomic store.
    Store,
    /// `swap`, `fetch_*`: a read-modify-write.
    Rmw,
    /// The success ordering of a compare-exchange.
    CasSuccess,
    /// The failure ordering of a compare-exchange (a load).
    CasFailure,
    /// `fence(Ordering::X)`.
    Fence,
    /// `light_fence()` / `heavy_fence()` of the facade: can only be removed.
    FacadeFence,
}

impl Kind {
    fn allows(self, o: Order) -> bool {
        use Order::*;
        match self {
            Kind::Load | Kind::CasFailure => matches!(o, Relaxed | Acquire | SeqCst),
            Kind::Store => matches!(o, Relaxed | Release | SeqCst),
            Kind::Rmw | Kind::CasSuccess => true,
            Kind::Fence => o != Relaxed,
            Kind::FacadeFence => false,
        }
    }
}

/// `std::sync::atomic::Ordering`, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Order {
    /// `Relaxed`.
    Relaxed,
    /// `Release`.
    Release,
    /// `Acquire`.
    Acquire,
    /// `AcqRel`.
    AcqRel,
    /// `SeqCst`.
    SeqCst,
}

impl Order {
    /// Parses an ordering name.
    pub fn parse(s: &str) -> Option<Order> {
        Some(match s {
            "Relaxed" => Order::Relaxed,
            "Release" => Order::Release,
            "Acquire" => Order::Acquire,
            "AcqRel" => Order::AcqRel,
            "SeqCst" => Order::SeqCst,
            _ => return None,
        })
    }

    /// The name, as written in Rust.
    pub fn name(self) -> &'static str {
        match self {
            Order::Relaxed => "Relaxed",
            Order::Release => "Release",
            Order::Acquire => "Acquire",
            Order::AcqRel => "AcqRel",
            Order::SeqCst => "SeqCst",
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One weakening of a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// The ordering replaced by a weaker one.
    To(Order),
    /// The fence removed.
    Removed,
}

impl Variant {
    /// `Relaxed`, `AcqRel`, ..., or `removed`: the value after `=` in
    /// `VICTIM_POOL_WEAKEN`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::To(o) => o.name(),
            Variant::Removed => "removed",
        }
    }
}

/// One ordering site of the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// `file:scope:operation#n`.
    pub id: String,
    /// The file, relative to the workspace root.
    pub file: String,
    /// 1-based line (display only).
    pub line: usize,
    /// The kind of operation.
    pub kind: Kind,
    /// The ordering written in the source (`SeqCst` for the facade fences).
    pub ordering: Order,
    /// Byte range in the file of the text the transform replaces: the
    /// `Ordering::X` path (with any `crate::sync::` prefix), or the whole
    /// `fence(..)` / `light_fence()` / `heavy_fence()` call.
    pub span: (usize, usize),
    /// For a `const` site: the byte offset of the `const` keyword (the
    /// transform turns the constant into a `let`).
    pub const_kw: Option<usize>,
}

impl Site {
    /// The one-step weakenings Rust allows at this site.
    pub fn weakenings(&self) -> Vec<Variant> {
        use Order::*;
        let steps: &[Order] = match self.ordering {
            SeqCst => match self.kind {
                Kind::Load | Kind::CasFailure => &[Acquire],
                Kind::Store => &[Release],
                _ => &[AcqRel],
            },
            AcqRel => &[Acquire, Release],
            Release | Acquire => &[Relaxed],
            Relaxed => &[],
        };
        let mut out: Vec<Variant> = steps
            .iter()
            .copied()
            .filter(|&o| self.kind.allows(o))
            .map(Variant::To)
            .collect();
        if matches!(self.kind, Kind::Fence | Kind::FacadeFence) {
            out.push(Variant::Removed);
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(char),
    Lit,
    Lifetime,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
    line: usize,
}

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let newlines = |s: &[u8]| s.iter().filter(|&&c| c == b'\n').count();
    while i < b.len() {
        let c = b[i];
        let start = i;
        let start_line = line;
        if c == b'\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += newlines(&b[start..i]);
            continue;
        }
        // Raw strings: r"..", r#".."#, br#".."#.
        let raw_at = if c == b'r' {
            Some(i + 1)
        } else if c == b'b' && b.get(i + 1) == Some(&b'r') {
            Some(i + 2)
        } else {
            None
        };
        if let Some(mut j) = raw_at {
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&b'"') {
                j += 1;
                loop {
                    if j >= b.len() {
                        return Err(format!("unterminated raw string at line {start_line}"));
                    }
                    if b[j] == b'"'
                        && b[j + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == b'#')
                            .count()
                            == hashes
                    {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                line += newlines(&b[start..j]);
                out.push(Token {
                    tok: Tok::Lit,
                    start,
                    end: j,
                    line: start_line,
                });
                i = j;
                continue;
            }
        }
        if c == b'"' || (c == b'b' && b.get(i + 1) == Some(&b'"')) {
            let mut j = if c == b'b' { i + 2 } else { i + 1 };
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            j += 1;
            line += newlines(&b[start..j.min(b.len())]);
            out.push(Token {
                tok: Tok::Lit,
                start,
                end: j,
                line: start_line,
            });
            i = j;
            continue;
        }
        if c == b'\'' || (c == b'b' && b.get(i + 1) == Some(&b'\'')) {
            let q = if c == b'b' { i + 1 } else { i };
            // A char literal: 'x', '\n', '\u{..}'; otherwise a lifetime.
            if b.get(q + 1) == Some(&b'\\') {
                let mut j = q + 2;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Lit,
                    start,
                    end: j + 1,
                    line,
                });
                i = j + 1;
                continue;
            }
            let ch_len = src[q + 1..].chars().next().map_or(1, char::len_utf8);
            if b.get(q + 1 + ch_len) == Some(&b'\'') {
                out.push(Token {
                    tok: Tok::Lit,
                    start,
                    end: q + 2 + ch_len,
                    line,
                });
                i = q + 2 + ch_len;
                continue;
            }
            let mut j = q + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Lifetime,
                start,
                end: j,
                line,
            });
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Ident(src[i..j].to_string()),
                start,
                end: j,
                line,
            });
            i = j;
            continue;
        }
        if c.is_ascii_digit() {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Lit,
                start,
                end: j,
                line,
            });
            i = j;
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or(' ');
        out.push(Token {
            tok: Tok::Punct(ch),
            start,
            end: i + ch.len_utf8(),
            line,
        });
        i += ch.len_utf8();
    }
    Ok(out)
}

fn ident(t: &Token) -> Option<&str> {
    match &t.tok {
        Tok::Ident(s) => Some(s),
        _ => None,
    }
}

fn is_punct(t: Option<&Token>, c: char) -> bool {
    matches!(t, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

/// Index of the token closing the group opened at `open`.
fn matching(toks: &[Token], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len() - 1
}

/// Whether the attribute `#[...]` spanning `toks[hash..=close]` is a
/// `cfg` that holds only in a mutant build.
fn mutant_only_cfg(toks: &[Token], hash: usize, close: usize) -> bool {
    let inner: Vec<&str> = toks[hash..=close].iter().filter_map(ident).collect();
    inner.first() == Some(&"cfg")
        && inner.contains(&"victim_pool_mutant")
        && !inner.contains(&"not")
}

/// End (inclusive) of the statement or item starting at `k`: a `;` at depth
/// 0, or a `{..}` block at depth 0 not followed by `else`.
fn statement_end(toks: &[Token], mut k: usize) -> usize {
    while k < toks.len() {
        match toks[k].tok {
            Tok::Punct(';') => return k,
            Tok::Punct('(' | '[') => k = matching(toks, k),
            Tok::Punct('{') => {
                let close = matching(toks, k);
                match toks.get(close + 1).and_then(ident) {
                    Some("else") => k = close,
                    _ => {
                        if is_punct(toks.get(close + 1), ';') {
                            return close + 1;
                        }
                        return close;
                    }
                }
            }
            _ => {}
        }
        k += 1;
    }
    toks.len() - 1
}

/// What an open `{` is.
#[derive(Clone, Debug)]
enum Frame {
    Named(String),
    Other,
}

/// An open `(`: the token index before it (the callee).
struct Paren {
    callee: Option<usize>,
    open: usize,
}

/// Finds the sites of one file (`rel` is its path relative to the root).
pub fn sites_of(rel: &str, src: &str) -> Result<Vec<Site>, String> {
    let toks = lex(src).map_err(|e| format!("{rel}: {e}"))?;
    let file = rel
        .trim_start_matches("src/")
        .trim_end_matches(".rs")
        .to_string();
    let mut skip = vec![false; toks.len()];
    let mut k = 0;
    while k < toks.len() {
        if is_punct(toks.get(k), '#') && is_punct(toks.get(k + 1), '[') {
            let close = matching(&toks, k + 1);
            if mutant_only_cfg(&toks, k, close) {
                let end = statement_end(&toks, close + 1);
                for s in skip.iter_mut().take(end + 1).skip(k) {
                    *s = true;
                }
                k = end + 1;
                continue;
            }
            k = close + 1;
            continue;
        }
        k += 1;
    }

    let mut frames: Vec<Frame> = Vec::new();
    let mut parens: Vec<Paren> = Vec::new();
    let mut pending: Option<String> = None;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut sites = Vec::new();
    let mut push_site =
        |scope: &[Frame], op: String, kind, ordering, span, line, sites: &mut Vec<Site>| {
            let scope: Vec<&str> = scope
                .iter()
                .filter_map(|f| match f {
                    Frame::Named(n) => Some(n.as_str()),
                    Frame::Other => None,
                })
                .collect();
            let key = format!("{file}:{}:{op}", scope.join("::"));
            let n = counts.entry(key.clone()).or_default();
            sites.push(Site {
                id: format!("{key}#{n}"),
                file: rel.to_string(),
                line,
                kind,
                ordering,
                span,
                const_kw: None,
            });
            *n += 1;
        };

    let mut k = 0;
    while k < toks.len() {
        let t = &toks[k];
        match &t.tok {
            Tok::Ident(w) if w == "fn" => {
                if let Some(name) = toks.get(k + 1).and_then(ident) {
                    pending = Some(name.to_string());
                }
            }
            Tok::Ident(w)
                if w == "impl"
                    && (k == 0
                        || matches!(toks[k - 1].tok, Tok::Punct('}' | ';' | '{' | ']'))
                        || toks.get(k - 1).and_then(ident) == Some("unsafe")) =>
            {
                // The self type: the last path segment before `{` (after
                // `for` if there is one), generics skipped.
                let mut j = k + 1;
                let mut angle = 0i32;
                let mut name = None;
                while j < toks.len() && !(angle == 0 && is_punct(toks.get(j), '{')) {
                    match &toks[j].tok {
                        Tok::Punct('<') => angle += 1,
                        Tok::Punct('>') if !is_punct(toks.get(j - 1), '-') => angle -= 1,
                        Tok::Ident(s) if s == "for" && angle == 0 => name = None,
                        Tok::Ident(s) if angle == 0 && s != "where" && s != "dyn" => {
                            name = Some(s.clone());
                        }
                        _ => {}
                    }
                    j += 1;
                }
                pending = name;
                // Skip the header (its generics hold no sites).
                k = j;
                continue;
            }
            Tok::Ident(w) if w == "mod" => {
                if let Some(name) = toks.get(k + 1).and_then(ident) {
                    pending = Some(name.to_string());
                }
            }
            Tok::Punct(';') if parens.is_empty() => pending = None,
            Tok::Punct('{') => frames.push(match pending.take() {
                Some(n) if parens.is_empty() => Frame::Named(n),
                p => {
                    pending = p;
                    Frame::Other
                }
            }),
            Tok::Punct('}') => {
                frames.pop();
            }
            Tok::Punct('(') => parens.push(Paren {
                callee: k.checked_sub(1),
                open: k,
            }),
            Tok::Punct(')') => {
                parens.pop();
            }
            Tok::Ident(w) if !skip[k] && (w == "light_fence" || w == "heavy_fence") => {
                let prev_path = is_punct(toks.get(k.wrapping_sub(1)), ':');
                if is_punct(toks.get(k + 1), '(')
                    && is_punct(toks.get(k + 2), ')')
                    && !prev_path
                    && !matches!(toks.get(k.wrapping_sub(1)).and_then(ident), Some("fn"))
                {
                    push_site(
                        &frames,
                        w.clone(),
                        Kind::FacadeFence,
                        Order::SeqCst,
                        (t.start, toks[k + 2].end),
                        t.line,
                        &mut sites,
                    );
                }
            }
            Tok::Ident(w)
                if w == "Ordering"
                    && !skip[k]
                    && is_punct(toks.get(k + 1), ':')
                    && is_punct(toks.get(k + 2), ':') =>
            {
                let Some(ord) = toks.get(k + 3).and_then(ident).and_then(Order::parse) else {
                    k += 1;
                    continue;
                };
                // Include a path prefix (`crate::sync::Ordering::X`).
                let mut first = k;
                while first >= 3
                    && is_punct(toks.get(first - 1), ':')
                    && is_punct(toks.get(first - 2), ':')
                    && toks.get(first - 3).and_then(ident).is_some()
                {
                    first -= 3;
                }
                let span = (toks[first].start, toks[k + 3].end);
                let line = t.line;
                // `const NAME: Ordering = Ordering::X;`
                if is_punct(toks.get(first.wrapping_sub(1)), '=') {
                    let mut j = first - 1;
                    while j > 0 && toks.get(j).and_then(ident) != Some("const") {
                        j -= 1;
                    }
                    let name = toks.get(j + 1).and_then(ident).unwrap_or("?").to_string();
                    let kind = const_kind(&toks, &name);
                    push_site(
                        &frames,
                        format!("const {name}"),
                        kind,
                        ord,
                        span,
                        line,
                        &mut sites,
                    );
                    if let Some(site) = sites.last_mut() {
                        site.const_kw = Some(toks[j].start);
                    }
                    k += 4;
                    continue;
                }
                let Some(paren) = parens.last() else {
                    return Err(format!("{rel}:{line}: Ordering::{ord} outside a call"));
                };
                let callee = paren.callee.and_then(|c| toks.get(c)).and_then(ident);
                let Some(method) = callee else {
                    return Err(format!("{rel}:{line}: Ordering::{ord} in an unknown call"));
                };
                let arg = toks[paren.open + 1..k]
                    .iter()
                    .fold((0, 0i32), |(commas, depth), t| match t.tok {
                        Tok::Punct('(' | '[' | '{') => (commas, depth + 1),
                        Tok::Punct(')' | ']' | '}') => (commas, depth - 1),
                        Tok::Punct(',') if depth == 0 => (commas + 1, depth),
                        _ => (commas, depth),
                    })
                    .0;
                let callee_at = paren.callee.unwrap_or(0);
                if method == "fence" && !is_punct(toks.get(callee_at.wrapping_sub(1)), '.') {
                    let close = matching(&toks, paren.open);
                    push_site(
                        &frames,
                        "fence".to_string(),
                        Kind::Fence,
                        ord,
                        (toks[callee_at].start, toks[close].end),
                        line,
                        &mut sites,
                    );
                    k += 4;
                    continue;
                }
                let recv = receiver(&toks, callee_at);
                let (kind, op) = match method {
                    "load" => (Kind::Load, format!("{recv}.load")),
                    "store" => (Kind::Store, format!("{recv}.store")),
                    "compare_exchange" | "compare_exchange_weak" if arg == 2 => {
                        (Kind::CasSuccess, format!("{recv}.{method}/success"))
                    }
                    "compare_exchange" | "compare_exchange_weak" => {
                        (Kind::CasFailure, format!("{recv}.{method}/failure"))
                    }
                    "fetch_update" if arg == 0 => {
                        (Kind::CasSuccess, format!("{recv}.fetch_update/set"))
                    }
                    "fetch_update" => (Kind::CasFailure, format!("{recv}.fetch_update/fetch")),
                    m if m == "swap" || m.starts_with("fetch_") => {
                        (Kind::Rmw, format!("{recv}.{m}"))
                    }
                    other => {
                        return Err(format!("{rel}:{line}: Ordering::{ord} passed to `{other}`"))
                    }
                };
                push_site(&frames, op, kind, ord, span, line, &mut sites);
                k += 4;
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    Ok(sites)
}

/// The receiver of the method at `method`: its last field or variable.
fn receiver(toks: &[Token], method: usize) -> String {
    if !is_punct(toks.get(method.wrapping_sub(1)), '.') {
        return "?".to_string();
    }
    let mut j = method.wrapping_sub(2);
    // `x[i].load`: skip the index.
    while is_punct(toks.get(j), ']') {
        let mut depth = 0i32;
        loop {
            match toks[j].tok {
                Tok::Punct(']') => depth += 1,
                Tok::Punct('[') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j -= 1;
        }
        j = j.wrapping_sub(1);
    }
    // `x.words(m)[i].load`: the method that returned the atomic.
    if is_punct(toks.get(j), ')') {
        let mut depth = 0i32;
        loop {
            match toks[j].tok {
                Tok::Punct(')') => depth += 1,
                Tok::Punct('(') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j -= 1;
        }
        j = j.wrapping_sub(1);
    }
    toks.get(j)
        .and_then(ident)
        .map_or_else(|| "?".to_string(), str::to_string)
}

/// The kind of a `const NAME: Ordering`: from the method it is passed to.
fn const_kind(toks: &[Token], name: &str) -> Kind {
    for k in 2..toks.len() {
        if ident(&toks[k]) == Some(name) && is_punct(toks.get(k - 1), '(') {
            match toks.get(k - 2).and_then(ident) {
                Some("load") => return Kind::Load,
                Some("store") => return Kind::Store,
                _ => {}
            }
        }
    }
    Kind::Rmw
}

/// Every site of [`CORE_FILES`] under `root`, in file order.
pub fn core_sites(root: &Path) -> Result<Vec<Site>, String> {
    let mut all = Vec::new();
    for rel in CORE_FILES {
        let src = std::fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
        all.extend(sites_of(rel, &src)?);
    }
    Ok(all)
}

/// The rows of a generated table: `(site id, ordering, weakening, result)`
/// from every table line whose first cell is a backquoted site id.
pub fn table_rows(md: &str) -> Vec<(String, String, String, String)> {
    md.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let id = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            if cells.len() < 5 || !id.contains(':') {
                return None;
            }
            Some((
                id.to_string(),
                cells[2].to_string(),
                cells[3].to_string(),
                cells[4].to_string(),
            ))
        })
        .collect()
}

/// The freshness check: the problems between the sites of `src/` and the
/// committed table (empty when the table is up to date). A site without
/// weakenings has one row with weakening `—`. A weakening that survives
/// with no answer, or as `invisible` (needed, yet no checker sees it), is
/// a problem too.
pub fn check_table(sites: &[Site], md: &str) -> Vec<String> {
    let rows = table_rows(md);
    let mut problems = Vec::new();
    let mut expected = std::collections::BTreeSet::new();
    for s in sites {
        let variants: Vec<String> = match s.weakenings() {
            v if v.is_empty() => vec!["—".to_string()],
            v => v.iter().map(|v| v.name().to_string()).collect(),
        };
        for v in variants {
            expected.insert((s.id.clone(), v.clone()));
            match rows.iter().find(|r| r.0 == s.id && r.2 == v) {
                None => problems.push(format!(
                    "{}:{}: site {} ({}) weakened to {v} has no row in verification/orderings.md",
                    s.file, s.line, s.id, s.ordering
                )),
                Some(r) if r.1 != s.ordering.name() => problems.push(format!(
                    "{}:{}: site {} is {} in src/ but {} in verification/orderings.md",
                    s.file, s.line, s.id, s.ordering, r.1
                )),
                Some(r) if r.3.contains("survived") && r.3.contains("no answer") => problems.push(
                    format!("site {} weakened to {v} survived without an answer", s.id),
                ),
                Some(r) if r.3.contains("survived") && r.3.contains("invisible") => {
                    problems.push(format!(
                        "site {} weakened to {v} survives unseen (answer `invisible`): \
                         build a check that kills it, or argue it `correct`",
                        s.id
                    ))
                }
                Some(_) => {}
            }
        }
    }
    for r in &rows {
        if !expected.contains(&(r.0.clone(), r.2.clone())) {
            problems.push(format!(
                "verification/orderings.md has a row for {} = {} that src/ no longer has",
                r.0, r.2
            ));
        }
    }
    problems
}
