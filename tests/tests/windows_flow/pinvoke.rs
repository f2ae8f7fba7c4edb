//! The P/Invoke declarations of `tests/vm/Test-WintunApi.ps1` held against the library they call,
//! without Windows: the C# the script compiles with `Add-Type` is read, and every `DllImport` is
//! compared with `wintun.dll`'s export list (`wintun-api/exports.txt`) and the C prototype in
//! `wintun-api/include/` (or, for a system DLL, MinGW-w64's SDK header), parameter by parameter,
//! through a table of the C# types that marshal as each C type. The structures passed by pointer
//! are compared field by field with the header's.
//!
//! The table ([`param_finding`], [`return_finding`]):
//!
//! | C | C# |
//! |---|---|
//! | a handle (`HANDLE`, `WINTUN_*_HANDLE`), any `T **`, `BYTE *`, `VOID *` | `IntPtr` |
//! | `DWORD` / `WORD` / `BYTE` / `DWORD64` | `uint` / `ushort` / `byte` / `ulong` |
//! | `BOOL` | `int`, or `bool` marshalled as the 4-byte `UnmanagedType.Bool` (the default) |
//! | `LPCWSTR` | `string` with `CharSet.Unicode` (or `[MarshalAs(UnmanagedType.LPWStr)]`), or `IntPtr` |
//! | `const T *` of a structure | `ref S` (optionally `[In]`), an `S[]` when a `Count` parameter follows, or `IntPtr`; S's fields are T's |
//! | `T *` of a structure | as `const T *`, and `out S` |
//! | `DWORD *`, `NET_LUID *`, `const GUID *` | `out`/`ref uint`, `out`/`ref ulong`, `ref Guid` (`out` only without `const`), or `IntPtr` |
//! | a structure's `BYTE Name[N]` | `byte[]` with `[MarshalAs(UnmanagedType.ByValArray, SizeConst = N)]` |
//!
//! and the rules around it: the calling convention is the header's `WINAPI` (stdcall on x86: no
//! `CallingConvention` other than `Winapi`/`StdCall`); every `Ringtun*` import has
//! `SetLastError = true` (each reports failure through the last error), and so does every import
//! whose call the C# follows with `Marshal.GetLastWin32Error()`; a structure has the default
//! sequential layout, no `Pack`.

use std::collections::{BTreeMap, BTreeSet};

// ----- a C reading, enough for the project's headers ---------------------------------------------

/// A C type as written: its base name, pointer depth, whether the pointee (or the value) is const,
/// and an array length (structure fields).
#[derive(Debug, Clone, PartialEq)]
pub struct CType {
    pub base: String,
    pub pointers: usize,
    pub constant: bool,
    pub array: Option<usize>,
}

/// A parameter or a field.
#[derive(Debug, Clone, PartialEq)]
pub struct CDecl {
    pub ty: CType,
    pub name: String,
}

/// A function type (`typedef RET(WINAPI NAME)(...)`) or a prototype.
#[derive(Debug, Clone, PartialEq)]
pub struct CFunction {
    pub ret: CType,
    pub params: Vec<CDecl>,
    /// Declared `WINAPI` (stdcall on x86).
    pub winapi: bool,
}

/// What the headers declare.
#[derive(Debug, Default)]
pub struct Header {
    /// Function types by typedef name.
    pub function_types: BTreeMap<String, CFunction>,
    /// Functions by name (a prototype `TYPE_FUNC Name;`).
    pub functions: BTreeMap<String, CFunction>,
    pub structs: BTreeMap<String, Vec<CDecl>>,
    /// Opaque handle typedefs (`typedef struct _X *NAME;`).
    pub handles: BTreeSet<String>,
    /// Callback pointer typedefs.
    pub callbacks: BTreeSet<String>,
    pub enums: BTreeSet<String>,
}

/// C text without comments, preprocessor lines and `#ifdef __cplusplus` blocks.
fn c_code(text: &str) -> String {
    let mut without_comments = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['/', '"']) {
        without_comments.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("/*") {
            let end = after.find("*/").map_or(after.len(), |e| e + 2);
            without_comments.push(' ');
            rest = &after[end..];
        } else if let Some(after) = tail.strip_prefix("//") {
            rest = &after[after.find('\n').unwrap_or(after.len())..];
        } else if let Some(after) = tail.strip_prefix('"') {
            let end = after.find('"').map_or(after.len(), |e| e + 1);
            without_comments.push_str(&tail[..=end]);
            rest = &after[end..];
        } else {
            without_comments.push('/');
            rest = &tail[1..];
        }
    }
    without_comments.push_str(rest);
    let mut out = String::new();
    let mut skipping = 0usize;
    let mut continued = false;
    for line in without_comments.lines() {
        let directive = line.trim_start();
        if continued || directive.starts_with('#') {
            continued = line.trim_end().ends_with('\\');
            let words: Vec<&str> = directive.trim_start_matches('#').split_whitespace().collect();
            match words.first().copied() {
                Some("if" | "ifdef" | "ifndef") if skipping > 0 => skipping += 1,
                Some("ifdef") if words.get(1) == Some(&"__cplusplus") => skipping = 1,
                Some("endif") if skipping > 0 => skipping -= 1,
                _ => {}
            }
            continue;
        }
        if skipping == 0 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn c_tokens(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// `[const] BASE [const] *... NAME [[N]]` (NAME may be absent in a bare type).
fn c_decl(tokens: &[String]) -> Result<CDecl, String> {
    let mut constant = false;
    let mut pointers = 0;
    let mut words = Vec::new();
    let mut array = None;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "const" => constant = true,
            "*" => pointers += 1,
            "[" => {
                let n = tokens.get(i + 1).and_then(|t| t.parse().ok()).ok_or("an array without a length")?;
                array = Some(n);
                i += 2;
            }
            "struct" | "]" => {}
            word => words.push(word.to_string()),
        }
        i += 1;
    }
    let (base, name) = match words.as_slice() {
        [base] => (base.clone(), String::new()),
        [base, name] => (base.clone(), name.clone()),
        _ => return Err(format!("cannot read the declaration `{}`", tokens.join(" "))),
    };
    Ok(CDecl { ty: CType { base, pointers, constant, array }, name })
}

/// Splits at top-level commas.
fn split_commas(tokens: &[String]) -> Vec<&[String]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "," if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        parts.push(&tokens[start..]);
    }
    parts
}

fn c_params(tokens: &[String]) -> Result<Vec<CDecl>, String> {
    if tokens.is_empty() || (tokens.len() == 1 && (tokens[0] == "VOID" || tokens[0] == "void")) {
        return Ok(Vec::new());
    }
    split_commas(tokens).into_iter().map(c_decl).collect()
}

/// The index of the bracket closing the one at `open`.
fn closing(tokens: &[String], open: usize) -> Option<usize> {
    let (o, c) = match tokens.get(open)?.as_str() {
        "(" => ("(", ")"),
        "[" => ("[", "]"),
        "{" => ("{", "}"),
        _ => return None,
    };
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t == o {
            depth += 1;
        } else if t == c {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// `RET ( CONV [*] NAME ) ( PARAMS )`: the name, the function, and whether it is a pointer.
fn c_function_type(tokens: &[String]) -> Result<(String, CFunction, bool), String> {
    let open = tokens.iter().position(|t| t == "(").ok_or("no `(`")?;
    let close = closing(tokens, open).ok_or("unbalanced `(`")?;
    let ret = c_decl(&tokens[..open])?.ty;
    let inner = &tokens[open + 1..close];
    let winapi = inner.iter().any(|t| t == "WINAPI");
    let pointer = inner.iter().any(|t| t == "*");
    let name = inner.last().cloned().ok_or("no name")?;
    let popen = close + 1;
    let pclose = closing(tokens, popen).ok_or("no parameter list")?;
    let params = c_params(&tokens[popen + 1..pclose])?;
    Ok((name, CFunction { ret, params, winapi }, pointer))
}

/// Reads the project's headers (each given as text).
pub fn parse_header(texts: &[&str]) -> Result<Header, String> {
    let mut header = Header::default();
    for text in texts {
        let tokens = c_tokens(&c_code(text));
        let mut statements = Vec::new();
        let mut depth = 0i32;
        let mut start = 0;
        for (i, t) in tokens.iter().enumerate() {
            match t.as_str() {
                "{" => depth += 1,
                "}" => depth -= 1,
                ";" if depth == 0 => {
                    statements.push(&tokens[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        for s in statements {
            if s.first().map(String::as_str) != Some("typedef") {
                // `NAME_FUNC Function`: a prototype of a function type.
                if let [ty, name] = s {
                    let function = header
                        .function_types
                        .get(ty)
                        .cloned()
                        .ok_or(format!("`{ty} {name}`: unknown function type"))?;
                    header.functions.insert(name.clone(), function);
                }
                continue;
            }
            let s = &s[1..];
            match (s.first().map(String::as_str), s.get(2).map(String::as_str)) {
                (Some("struct"), Some("*")) => {
                    header.handles.insert(s.last().cloned().unwrap_or_default());
                }
                (Some("struct"), _) => {
                    let open = s.iter().position(|t| t == "{").ok_or("a struct without a body")?;
                    let close = closing(s, open).ok_or("unbalanced `{`")?;
                    let mut fields = Vec::new();
                    for field in s[open + 1..close].split(|t| t == ";").filter(|f| !f.is_empty()) {
                        fields.push(c_decl(field)?);
                    }
                    header.structs.insert(s.last().cloned().unwrap_or_default(), fields);
                }
                (Some("enum"), _) => {
                    header.enums.insert(s.last().cloned().unwrap_or_default());
                }
                _ => {
                    let (name, function, pointer) =
                        c_function_type(s).map_err(|e| format!("typedef {}: {e}", s.join(" ")))?;
                    if pointer {
                        header.callbacks.insert(name);
                    } else {
                        header.function_types.insert(name, function);
                    }
                }
            }
        }
    }
    Ok(header)
}

/// The prototype of `name` in an SDK header's text (`... RET WINAPI Name (PARAMS);`), as MinGW-w64
/// declares the system DLLs' functions.
pub fn sdk_prototype(text: &str, name: &str) -> Option<CFunction> {
    let tokens = c_tokens(&c_code(text));
    let at = tokens.windows(3).position(|w| w[0] == "WINAPI" && w[1] == name && w[2] == "(")?;
    let start = tokens[..at].iter().rposition(|t| t == ";" || t == "}" || t == "{").map_or(0, |p| p + 1);
    let ret_tokens: Vec<String> = tokens[start..at]
        .iter()
        .filter(|t| !(t.ends_with("API") || t.starts_with("DECLSPEC") || *t == "extern"))
        .cloned()
        .collect();
    let ret = c_decl(&ret_tokens).ok()?.ty;
    let close = closing(&tokens, at + 2)?;
    let params = c_params(&tokens[at + 3..close]).ok()?;
    Some(CFunction { ret, params, winapi: true })
}

// ----- a C# reading, enough for P/Invoke declarations ---------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    Number(String),
}

fn cs_tokens(code: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '@' && next == Some('"') {
            i += 2;
            let mut s = String::new();
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (Some('"'), Some('"')) => {
                        s.push('"');
                        i += 2;
                    }
                    (Some('"'), _) => break,
                    (Some(&ch), _) => {
                        s.push(ch);
                        i += 1;
                    }
                    (None, _) => return Err("an unterminated verbatim string".into()),
                }
            }
            i += 1;
            tokens.push(Tok::Str(s));
        } else if c == '"' || c == '\'' {
            i += 1;
            let mut s = String::new();
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    s.push(ch);
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err("an unterminated string".into());
            }
            i += 1;
            tokens.push(if c == '"' { Tok::Str(s) } else { Tok::Number(s) });
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Tok::Number(chars[start..i].iter().collect()));
        } else {
            tokens.push(Tok::Punct(c));
            i += 1;
        }
    }
    Ok(tokens)
}

fn is_punct(t: Option<&Tok>, c: char) -> bool {
    t == Some(&Tok::Punct(c))
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn cs_closing(tokens: &[Tok], open: usize) -> Option<usize> {
    let (o, c) = match tokens.get(open)? {
        Tok::Punct('(') => ('(', ')'),
        Tok::Punct('[') => ('[', ']'),
        Tok::Punct('{') => ('{', '}'),
        _ => return None,
    };
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if *t == Tok::Punct(o) {
            depth += 1;
        } else if *t == Tok::Punct(c) {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// An attribute: its name (without `Attribute`), positional arguments and named ones, as text.
#[derive(Debug, Clone, Default)]
pub struct Attribute {
    pub target: Option<String>,
    pub name: String,
    pub positional: Vec<String>,
    pub named: BTreeMap<String, String>,
}

/// A token as the text a rule compares (`UnmanagedType.Bool`, `"name"` as `name`).
fn text_of(tokens: &[Tok]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Tok::Ident(s) | Tok::Str(s) | Tok::Number(s) => s.clone(),
            Tok::Punct(c) => c.to_string(),
        })
        .collect()
}

/// The attributes of one `[...]` group (tokens inside the brackets).
/// `tokens` cut at the commas outside parentheses and brackets, empty pieces left out.
fn split_top_level(tokens: &[Tok]) -> Vec<&[Tok]> {
    let mut depth = 0i32;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Tok::Punct('(' | '[') => depth += 1,
            Tok::Punct(')' | ']') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                pieces.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&tokens[start..]);
    pieces.retain(|p| !p.is_empty());
    pieces
}

fn attributes(tokens: &[Tok]) -> Vec<Attribute> {
    let (target, body) = match (tokens.first(), tokens.get(1)) {
        (Some(Tok::Ident(t)), Some(Tok::Punct(':'))) => (Some(t.clone()), &tokens[2..]),
        _ => (None, tokens),
    };
    let mut out = Vec::new();
    for g in split_top_level(body) {
        let name_end = g.iter().position(|t| *t == Tok::Punct('(')).unwrap_or(g.len());
        let name = text_of(&g[..name_end]);
        let name = name.rsplit('.').next().unwrap_or("").trim_end_matches("Attribute").to_string();
        let mut attribute = Attribute { target: target.clone(), name, ..Attribute::default() };
        if name_end < g.len() {
            let args = &g[name_end + 1..g.len() - 1];
            for p in split_top_level(args) {
                match p.iter().position(|t| *t == Tok::Punct('=')) {
                    Some(eq) => {
                        attribute.named.insert(text_of(&p[..eq]), text_of(&p[eq + 1..]));
                    }
                    None => attribute.positional.push(text_of(p)),
                }
            }
        }
        out.push(attribute);
    }
    out
}

/// The attribute groups right before `end` (exclusive), read backwards.
fn preceding_attributes(tokens: &[Tok], mut end: usize) -> Vec<Attribute> {
    let mut all = Vec::new();
    while end > 0 && is_punct(tokens.get(end - 1), ']') {
        let close = end - 1;
        let mut depth = 0;
        let mut open = None;
        for i in (0..=close).rev() {
            match tokens[i] {
                Tok::Punct(']') => depth += 1,
                Tok::Punct('[') => {
                    depth -= 1;
                    if depth == 0 {
                        open = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(open) = open else { break };
        let mut group = attributes(&tokens[open + 1..close]);
        group.append(&mut all);
        all = group;
        end = open;
    }
    all
}

/// A C# type as written: its name (the last part of a dotted one), `[]` or `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct CsType {
    pub name: String,
    pub array: bool,
    pub pointer: bool,
}

impl std::fmt::Display for CsType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.name, if self.array { "[]" } else { "" }, if self.pointer { "*" } else { "" })
    }
}

/// A parameter or a field: attributes, `ref`/`out`/`in`, type, name.
#[derive(Debug, Clone)]
pub struct CsDecl {
    pub attributes: Vec<Attribute>,
    pub modifier: Option<String>,
    pub ty: CsType,
    pub name: String,
}

const ALIASES: &[(&str, &str)] = &[
    ("IntPtr", "IntPtr"),
    ("UIntPtr", "UIntPtr"),
    ("UInt32", "uint"),
    ("Int32", "int"),
    ("UInt16", "ushort"),
    ("Int16", "short"),
    ("Byte", "byte"),
    ("UInt64", "ulong"),
    ("Int64", "long"),
    ("Boolean", "bool"),
    ("String", "string"),
    ("Void", "void"),
];

fn cs_type(tokens: &[Tok]) -> Result<CsType, String> {
    let mut name = String::new();
    let mut array = false;
    let mut pointer = false;
    for t in tokens {
        match t {
            Tok::Ident(s) => name = s.clone(),
            Tok::Punct('.') => {}
            Tok::Punct('[') | Tok::Punct(']') => array = true,
            Tok::Punct('*') => pointer = true,
            other => return Err(format!("unexpected `{other:?}` in a type")),
        }
    }
    if let Some((_, alias)) = ALIASES.iter().find(|(long, _)| *long == name) {
        name = (*alias).to_string();
    }
    Ok(CsType { name, array, pointer })
}

fn cs_decl(tokens: &[Tok]) -> Result<CsDecl, String> {
    let mut i = 0;
    let mut attrs = Vec::new();
    while is_punct(tokens.get(i), '[') {
        let close = cs_closing(tokens, i).ok_or("unbalanced `[`")?;
        attrs.extend(attributes(&tokens[i + 1..close]));
        i = close + 1;
    }
    let mut modifier = None;
    while let Some(word) = ident(tokens.get(i)) {
        match word {
            "ref" | "out" | "in" | "params" => modifier = Some(word.to_string()),
            "public" | "private" | "internal" | "static" | "readonly" => {}
            _ => break,
        }
        i += 1;
    }
    let name = ident(tokens.last()).ok_or_else(|| format!("no name in `{}`", text_of(tokens)))?.to_string();
    let ty = cs_type(&tokens[i..tokens.len() - 1])?;
    Ok(CsDecl { attributes: attrs, modifier, ty, name })
}

/// A `static extern` method with its `DllImport`.
#[derive(Debug, Clone)]
pub struct Import {
    pub method: String,
    pub attributes: Vec<Attribute>,
    pub ret: CsType,
    pub params: Vec<CsDecl>,
}

impl Import {
    fn dll_import(&self) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == "DllImport" && a.target.is_none())
    }
    fn named(&self, key: &str) -> Option<&str> {
        self.dll_import().and_then(|a| a.named.get(key)).map(String::as_str)
    }
    /// The exported name it binds (`EntryPoint`, else the method's).
    pub fn entry(&self) -> &str {
        self.named("EntryPoint").unwrap_or(&self.method)
    }
    fn return_marshal(&self) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == "MarshalAs" && a.target.as_deref() == Some("return"))
            .and_then(|a| a.positional.first())
            .map(String::as_str)
    }
}

/// A C# structure.
#[derive(Debug, Clone)]
pub struct CsStruct {
    pub attributes: Vec<Attribute>,
    pub fields: Vec<CsDecl>,
}

/// What the C# declares.
#[derive(Debug, Default)]
pub struct CSharp {
    pub imports: Vec<Import>,
    pub structs: BTreeMap<String, CsStruct>,
    pub delegates: BTreeSet<String>,
    /// `const string` values.
    pub constants: BTreeMap<String, String>,
    /// For each `Marshal.GetLastWin32Error()`, the import the C# called last before it.
    pub last_error_reads: Vec<Option<String>>,
}

/// Reads the C# source.
pub fn parse_csharp(code: &str) -> Result<CSharp, String> {
    let tokens = cs_tokens(code)?;
    let mut cs = CSharp::default();
    for (i, t) in tokens.iter().enumerate() {
        let Tok::Ident(word) = t else { continue };
        match word.as_str() {
            "extern" => {
                let mut start = i;
                while start > 0
                    && matches!(
                        ident(tokens.get(start - 1)),
                        Some("static" | "public" | "private" | "internal" | "unsafe")
                    )
                {
                    start -= 1;
                }
                let open = (i..tokens.len()).find(|&k| is_punct(tokens.get(k), '(')).ok_or("extern without `(`")?;
                let close = cs_closing(&tokens, open).ok_or("unbalanced `(`")?;
                if !is_punct(tokens.get(close + 1), ';') {
                    return Err(format!("extern {}: not a declaration", text_of(&tokens[i..=close])));
                }
                let method = ident(tokens.get(open - 1)).ok_or("extern without a name")?.to_string();
                let ret = cs_type(&tokens[i + 1..open - 1])?;
                let inner = &tokens[open + 1..close];
                let params = split_top_level(inner).into_iter().map(cs_decl).collect::<Result<Vec<_>, _>>()?;
                cs.imports.push(Import { method, attributes: preceding_attributes(&tokens, start), ret, params });
            }
            "struct" => {
                let Some(name) = ident(tokens.get(i + 1)) else { continue };
                let open = i + 2;
                if !is_punct(tokens.get(open), '{') {
                    continue;
                }
                let mut start = i;
                while start > 0 && matches!(ident(tokens.get(start - 1)), Some("public" | "internal" | "private")) {
                    start -= 1;
                }
                let close = cs_closing(&tokens, open).ok_or("unbalanced `{`")?;
                let mut fields = Vec::new();
                for member in tokens[open + 1..close].split(|t| *t == Tok::Punct(';')).filter(|m| !m.is_empty()) {
                    let mut body = 0;
                    while is_punct(member.get(body), '[') {
                        body = cs_closing(member, body).ok_or("unbalanced `[`")? + 1;
                    }
                    if member[body..].iter().any(|t| matches!(t, Tok::Punct('(' | '{'))) {
                        return Err(format!("struct {name}: only fields are read, found `{}`", text_of(member)));
                    }
                    // `public uint A, B;`: one declaration per name (the attributes' commas apart).
                    let names: Vec<&[Tok]> = member[body..].split(|t| *t == Tok::Punct(',')).collect();
                    let first = cs_decl(&member[..body + names[0].len()])?;
                    let extra: Vec<CsDecl> = names[1..]
                        .iter()
                        .map(|n| {
                            let name = ident(n.first()).ok_or("a field without a name")?;
                            Ok(CsDecl { name: name.to_string(), ..first.clone() })
                        })
                        .collect::<Result<_, String>>()?;
                    fields.push(first);
                    fields.extend(extra);
                }
                cs.structs
                    .insert(name.to_string(), CsStruct { attributes: preceding_attributes(&tokens, start), fields });
            }
            "delegate" => {
                let open = (i..tokens.len()).find(|&k| is_punct(tokens.get(k), '('));
                if let Some(name) = open.and_then(|o| ident(tokens.get(o - 1))) {
                    // A declaration (`delegate RET Name(`) rather than an anonymous method.
                    if open.is_some_and(|o| o >= i + 3) {
                        cs.delegates.insert(name.to_string());
                    }
                }
            }
            "const" => {
                if let (Some(Tok::Ident(ty)), Some(Tok::Ident(name)), Some(Tok::Punct('=')), Some(Tok::Str(value))) =
                    (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3), tokens.get(i + 4))
                {
                    if ty == "string" {
                        cs.constants.insert(name.clone(), value.clone());
                    }
                }
            }
            _ => {}
        }
    }
    // Each read of the last error, with the import called last before it (all imports known).
    let names: BTreeSet<String> = cs.imports.iter().map(|m| m.method.clone()).collect();
    cs.last_error_reads = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == Tok::Ident("GetLastWin32Error".into()))
        .map(|(i, _)| {
            tokens[..i].windows(2).rev().find_map(|w| match (&w[0], &w[1]) {
                (Tok::Ident(n), Tok::Punct('(')) if names.contains(n) => Some(n.clone()),
                _ => None,
            })
        })
        .collect();
    Ok(cs)
}

// ----- the comparison -------------------------------------------------------------------------

/// Where the C# of an import's library is declared.
pub enum Library<'a> {
    /// `wintun.dll`: its export list and its header.
    Wintun { exports: &'a BTreeSet<String>, header: &'a Header },
    /// A system DLL: each function's prototype from the SDK headers.
    System { prototype: &'a dyn Fn(&str) -> Option<CFunction> },
}

/// Base types whose values are 32-bit unsigned integers, and the C# type for each scalar.
fn scalar(base: &str) -> Option<&'static str> {
    match base {
        "DWORD" | "UINT" | "ULONG" => Some("uint"),
        "WORD" | "USHORT" => Some("ushort"),
        "BYTE" | "UCHAR" => Some("byte"),
        "DWORD64" | "ULONG64" | "ULONGLONG" => Some("ulong"),
        _ => None,
    }
}

fn is_bool(base: &str) -> bool {
    base == "BOOL" || base == "WINBOOL"
}

/// `LPCWSTR` and friends as what they are.
fn resolve(mut ty: CType) -> CType {
    let (base, constant, pointers) = match ty.base.as_str() {
        "LPCWSTR" | "PCWSTR" => ("WCHAR", true, 1),
        "LPWSTR" | "PWSTR" => ("WCHAR", false, 1),
        "PVOID" | "LPVOID" => ("VOID", false, 1),
        "LPCVOID" => ("VOID", true, 1),
        "PBYTE" | "LPBYTE" => ("BYTE", false, 1),
        "PHANDLE" => ("HANDLE", false, 1),
        _ => return ty,
    };
    ty.base = base.to_string();
    ty.constant |= constant;
    ty.pointers += pointers;
    ty
}

/// The MarshalAs of a declaration (its `UnmanagedType.X`, as `X`).
fn marshal_as(attrs: &[Attribute]) -> Option<String> {
    attrs
        .iter()
        .find(|a| a.name == "MarshalAs")
        .and_then(|a| a.positional.first())
        .map(|p| p.rsplit('.').next().unwrap_or("").to_string())
}

fn has_attr(attrs: &[Attribute], name: &str) -> bool {
    attrs.iter().any(|a| a.name == name)
}

struct Context<'a> {
    header: Option<&'a Header>,
    cs: &'a CSharp,
    /// (C struct, C# struct) pairs met in parameters.
    pairs: &'a mut Vec<(String, String)>,
}

impl Context<'_> {
    fn is_handle(&self, base: &str) -> bool {
        base == "HANDLE" || self.header.is_some_and(|h| h.handles.contains(base))
    }
    fn is_struct(&self, base: &str) -> bool {
        self.header.is_some_and(|h| h.structs.contains_key(base))
    }
    fn is_callback(&self, base: &str) -> bool {
        self.header.is_some_and(|h| h.callbacks.contains(base))
    }
}

/// Why a C# parameter does not marshal as the C one, or None.
fn param_finding(
    c: &CDecl,
    next_c: Option<&CDecl>,
    p: &CsDecl,
    charset_unicode: bool,
    ctx: &mut Context<'_>,
) -> Option<String> {
    let ty = resolve(c.ty.clone());
    let cs = &p.ty;
    let modifier = p.modifier.as_deref();
    let plain = modifier.is_none() && !cs.array && !cs.pointer;
    let intptr = plain && cs.name == "IntPtr";
    let want =
        |what: &str| Some(format!("C `{}` needs {what}, not `{}{}`", c_type_text(&c.ty), mod_text(modifier), cs));
    if ty.pointers == 0 {
        if ctx.is_handle(&ty.base) {
            return (!intptr).then(|| want("IntPtr")).flatten();
        }
        if ctx.is_callback(&ty.base) {
            let ok = plain && (cs.name == "IntPtr" || ctx.cs.delegates.contains(&cs.name));
            return (!ok).then(|| want("IntPtr or a delegate")).flatten();
        }
        if is_bool(&ty.base) {
            let ok = plain && (cs.name == "int" || (cs.name == "bool" && bool_marshal_ok(&p.attributes)));
            return (!ok).then(|| want("int, or bool marshalled as UnmanagedType.Bool")).flatten();
        }
        if let Some(s) = scalar(&ty.base) {
            return (!(plain && cs.name == s)).then(|| want(s)).flatten();
        }
        return Some(format!("C `{}`: no C# mapping known", c_type_text(&c.ty)));
    }
    if intptr {
        return None;
    }
    if ty.pointers > 1 {
        return want("IntPtr");
    }
    let by_ref = matches!(modifier, Some("ref")) || (matches!(modifier, Some("out")) && !ty.constant);
    let only_out = has_attr(&p.attributes, "Out") && !has_attr(&p.attributes, "In");
    match ty.base.as_str() {
        "WCHAR" if ty.constant => {
            let unicode = charset_unicode || marshal_as(&p.attributes).as_deref() == Some("LPWStr");
            if !(plain && cs.name == "string") {
                return want("string or IntPtr");
            }
            (!unicode).then(|| want("string with CharSet.Unicode or MarshalAs(UnmanagedType.LPWStr)")).flatten()
        }
        "BYTE" | "VOID" => want("IntPtr (the library's memory, not a copy)"),
        "GUID" => (!(by_ref && !cs.array && cs.name == "Guid")).then(|| want("ref Guid or IntPtr")).flatten(),
        "NET_LUID" => (!(by_ref && !cs.array && cs.name == "ulong")).then(|| want("out ulong or IntPtr")).flatten(),
        base if scalar(base).is_some() => {
            let s = scalar(base).unwrap_or_default();
            (!(by_ref && !cs.array && cs.name == s)).then(|| want(&format!("out/ref {s} or IntPtr"))).flatten()
        }
        base if ctx.is_struct(base) => {
            let array_ok = cs.array && modifier.is_none() && next_c.is_some_and(|n| n.name == "Count");
            let single_ok = by_ref && !cs.array && !cs.pointer;
            if !(array_ok || single_ok) {
                return want("ref (or out), an array with a Count parameter, or IntPtr");
            }
            if ty.constant && only_out {
                return want("no [Out] for a const pointer");
            }
            if !ctx.cs.structs.contains_key(&cs.name) {
                return Some(format!("C `{}`: `{}` is no struct of the C#", c_type_text(&c.ty), cs.name));
            }
            ctx.pairs.push((base.to_string(), cs.name.clone()));
            None
        }
        _ => Some(format!("C `{}`: no C# mapping known", c_type_text(&c.ty))),
    }
}

fn bool_marshal_ok(attrs: &[Attribute]) -> bool {
    matches!(marshal_as(attrs).as_deref(), None | Some("Bool"))
}

fn mod_text(m: Option<&str>) -> String {
    m.map(|m| format!("{m} ")).unwrap_or_default()
}

fn c_type_text(t: &CType) -> String {
    let array = t.array.map(|n| format!("[{n}]")).unwrap_or_default();
    format!("{}{}{}{array}", if t.constant { "const " } else { "" }, t.base, " *".repeat(t.pointers))
}

/// Why a C# return type does not marshal as the C one, or None.
fn return_finding(c: &CType, import: &Import, ctx: &Context<'_>) -> Option<String> {
    let ty = resolve(c.clone());
    let cs = &import.ret;
    let plain = !cs.array && !cs.pointer;
    let want = |what: &str| Some(format!("returns C `{}`: needs {what}, not `{cs}`", c_type_text(c)));
    if ty.pointers > 0 || ctx.is_handle(&ty.base) {
        return (!(plain && cs.name == "IntPtr")).then(|| want("IntPtr")).flatten();
    }
    if ty.base == "VOID" || ty.base == "void" {
        return (!(plain && cs.name == "void")).then(|| want("void")).flatten();
    }
    if is_bool(&ty.base) {
        let marshal_ok =
            matches!(import.return_marshal().map(|m| m.rsplit('.').next().unwrap_or("")), None | Some("Bool"));
        let ok = plain && (cs.name == "int" || (cs.name == "bool" && marshal_ok));
        return (!ok).then(|| want("int, or bool marshalled as UnmanagedType.Bool")).flatten();
    }
    match scalar(&ty.base) {
        Some(s) => (!(plain && cs.name == s)).then(|| want(s)).flatten(),
        None => Some(format!("returns C `{}`: no C# mapping known", c_type_text(c))),
    }
}

/// Why a C# structure is not the C one, field for field (names, order, types), or None.
fn struct_findings(c_name: &str, c_fields: &[CDecl], cs_name: &str, cs: &CsStruct) -> Vec<String> {
    let mut findings = Vec::new();
    let at = format!("struct {cs_name} (C {c_name})");
    for a in &cs.attributes {
        if a.name == "StructLayout" {
            if a.positional.first().is_some_and(|k| !k.ends_with("Sequential")) {
                findings.push(format!("{at}: layout {} (the C struct's is sequential)", a.positional[0]));
            }
            for key in a.named.keys() {
                findings.push(format!("{at}: StructLayout {key} (the C struct has natural alignment)"));
            }
        }
    }
    if c_fields.len() != cs.fields.len() {
        findings.push(format!("{at}: {} fields, the C struct has {}", cs.fields.len(), c_fields.len()));
    }
    for (c, f) in c_fields.iter().zip(&cs.fields) {
        if c.name != f.name {
            findings.push(format!("{at}: field `{}` where the C struct has `{}`", f.name, c.name));
        }
        let ty = resolve(c.ty.clone());
        let ok = match (ty.pointers, ty.array) {
            (0, Some(n)) => {
                let by_val = f.attributes.iter().find(|a| a.name == "MarshalAs").is_some_and(|a| {
                    a.positional.first().is_some_and(|p| p.ends_with("ByValArray"))
                        && a.named.get("SizeConst").and_then(|s| s.parse::<usize>().ok()) == Some(n)
                });
                scalar(&ty.base).is_some_and(|s| f.ty.array && f.ty.name == s) && by_val
            }
            (0, None) => scalar(&ty.base).is_some_and(|s| !f.ty.array && f.ty.name == s),
            _ => !f.ty.array && f.ty.name == "IntPtr",
        };
        if !ok || f.modifier.is_some() {
            findings.push(format!("{at}: field `{}` is `{}`, the C field `{}`", f.name, f.ty, c_type_text(&c.ty)));
        }
    }
    findings
}

/// Everything wrong with the C#'s imports against their libraries, one message per finding.
/// `library` maps a `DllImport`'s first argument (a constant resolved) to where it is declared.
pub fn check<'a>(cs: &CSharp, library: &dyn Fn(&str) -> Option<Library<'a>>) -> Vec<String> {
    let mut findings = Vec::new();
    let mut pairs = Vec::new();
    let mut header_of_structs = None;
    for import in &cs.imports {
        let at = format!("{} ({})", import.method, import.entry());
        let Some(dll) = import.dll_import() else {
            findings.push(format!("{at}: extern without DllImport"));
            continue;
        };
        let target = dll.positional.first().cloned().unwrap_or_default();
        let target = cs.constants.get(&target).cloned().unwrap_or(target);
        let (function, header) = match library(&target) {
            None => {
                findings.push(format!("{at}: imported from `{target}`, a library the check does not know"));
                continue;
            }
            Some(Library::Wintun { exports, header }) => {
                if !exports.contains(import.entry()) {
                    findings.push(format!("{at}: not exported by wintun.dll (exports.txt)"));
                }
                header_of_structs = Some(header);
                match header.functions.get(import.entry()) {
                    Some(f) => (f.clone(), Some(header)),
                    None => {
                        findings.push(format!("{at}: no prototype in the header"));
                        continue;
                    }
                }
            }
            Some(Library::System { prototype }) => match prototype(import.entry()) {
                Some(f) => (f, None),
                None => {
                    findings.push(format!("{at}: no prototype in the SDK headers"));
                    continue;
                }
            },
        };
        if !function.winapi {
            findings.push(format!("{at}: the C prototype is not WINAPI"));
        }
        if let Some(cc) = import.named("CallingConvention") {
            if !(cc.ends_with(".Winapi") || cc.ends_with(".StdCall")) {
                findings.push(format!("{at}: CallingConvention {cc}, the header's is WINAPI (stdcall on x86)"));
            }
        }
        let charset = import.named("CharSet").map(|c| c.rsplit('.').next().unwrap_or("").to_string());
        if let Some(c) = charset.as_deref().filter(|c| *c != "Unicode") {
            findings.push(format!("{at}: CharSet.{c} (Wintun's strings are UTF-16: CharSet.Unicode)"));
        }
        let set_last_error = import.named("SetLastError") == Some("true");
        if import.entry().starts_with("Ringtun") && !set_last_error {
            findings
                .push(format!("{at}: no SetLastError = true (the extension reports failure through the last error)"));
        }
        let mut ctx = Context { header, cs, pairs: &mut pairs };
        if let Some(f) = return_finding(&function.ret, import, &ctx) {
            findings.push(format!("{at}: {f}"));
        }
        if function.params.len() != import.params.len() {
            findings.push(format!(
                "{at}: {} parameters, the C prototype has {}",
                import.params.len(),
                function.params.len()
            ));
            continue;
        }
        for (k, (c, p)) in function.params.iter().zip(&import.params).enumerate() {
            let next = function.params.get(k + 1);
            if let Some(f) = param_finding(c, next, p, charset.as_deref() == Some("Unicode"), &mut ctx) {
                findings.push(format!("{at}: parameter {} `{}`: {f}", k + 1, p.name));
            }
        }
    }
    for read in &cs.last_error_reads {
        match read {
            None => findings.push("Marshal.GetLastWin32Error() read before any import was called".into()),
            Some(method) => {
                let import = cs.imports.iter().find(|m| &m.method == method);
                if import.is_some_and(|m| m.named("SetLastError") != Some("true")) {
                    findings.push(format!(
                        "{method}: Marshal.GetLastWin32Error() is read after it, without SetLastError = true"
                    ));
                }
            }
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (c, s) in pairs {
        if let Some(previous) = seen.get(&s) {
            if *previous != c {
                findings.push(format!("struct {s} stands for both C {previous} and C {c}"));
            }
            continue;
        }
        seen.insert(s.clone(), c.clone());
        if let (Some(header), Some(cs_struct)) = (header_of_structs, cs.structs.get(&s)) {
            if let Some(fields) = header.structs.get(&c) {
                findings.extend(struct_findings(&c, fields, &s, cs_struct));
            }
        }
    }
    findings
}
