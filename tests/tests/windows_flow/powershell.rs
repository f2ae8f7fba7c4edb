//! A PowerShell-free reading of the project's PowerShell: enough of the language's lexical rules
//! (comments, the four kinds of string, subexpressions inside strings, line continuation) to find
//! every native command a script runs and what the script does with its exit code and its output.
//!
//! The rules the lint enforces:
//! - every native command's exit code is read (`$LASTEXITCODE`) on the very next statement, or
//!   saved there into a variable that a later statement compares;
//! - every non-zero exit code a check names (an accepted code, or one handled apart) is explained
//!   in the comment block right above the command (or on the command's or the check's line);
//! - no native command's output is parsed: it is neither assigned, nor the operand of an
//!   expression, nor piped into anything but Out-Null, Out-Host, Out-Default, Write-Host or
//!   Tee-Object (tools such as pnputil print translated text on non-English systems).

/// Commands that are programs, not cmdlets, when they start a statement without `&`.
const KNOWN_PROGRAMS: &[&str] = &[
    "bcdedit",
    "cargo",
    "certutil",
    "cmd",
    "devgen",
    "dism",
    "inf2cat",
    "infverif",
    "msiexec",
    "netsh",
    "pnputil",
    "powershell",
    "pwsh",
    "reg",
    "rustc",
    "sc",
    "signtool",
    "stampinf",
    "verifier",
];

/// Cmdlets that may receive a native command's output: they print or discard it, never parse it.
const OUTPUT_SINKS: &[&str] = &["out-null", "out-host", "out-default", "write-host", "tee-object"];

/// One logical line: physical lines joined where PowerShell continues a statement (a trailing
/// backtick or `|`, an open `(` or `[`).
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based number of the first physical line.
    pub number: usize,
    /// The code, comments removed, string contents replaced by `_` (quotes kept).
    pub code: String,
    /// The code, comments removed, strings intact.
    pub raw: String,
    /// The comment text on these physical lines.
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Code,
    /// Inside `$( ... )` within a double-quoted string; the count is the open parentheses.
    Subexpression(usize),
    Single,
    Double,
    HereSingle,
    HereDouble,
    BlockComment,
    LineComment,
}

/// Splits a script into logical lines. Errors on an unterminated string, comment or bracket.
pub fn logical_lines(text: &str) -> Result<Vec<Line>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut lines = Vec::new();
    let mut current = Line { number: 1, code: String::new(), raw: String::new(), comment: String::new() };
    let mut stack = vec![State::Code];
    let mut brackets = 0usize;
    let mut physical = 1usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let state = *stack.last().ok_or("lexer state underflow")?;
        let in_string =
            stack.iter().any(|s| matches!(s, State::Single | State::Double | State::HereSingle | State::HereDouble));
        if c == '\r' {
            i += 1;
            continue;
        }
        if c == '\n' {
            physical += 1;
            match state {
                State::LineComment => {
                    stack.pop();
                }
                State::BlockComment => {
                    current.comment.push('\n');
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if in_string || matches!(stack.last(), Some(State::Subexpression(_))) {
                current.raw.push('\n');
                current.code.push(' ');
                i += 1;
                continue;
            }
            let trimmed = current.code.trim_end();
            if let Some(stripped) = trimmed.strip_suffix('`') {
                let len = stripped.len();
                current.code.truncate(len);
                let raw_len = current.raw.trim_end().len().saturating_sub(1);
                current.raw.truncate(raw_len);
                current.code.push(' ');
                current.raw.push(' ');
            } else if trimmed.ends_with('|') || brackets > 0 {
                current.code.push(' ');
                current.raw.push(' ');
            } else {
                let finished = std::mem::replace(
                    &mut current,
                    Line { number: physical, code: String::new(), raw: String::new(), comment: String::new() },
                );
                lines.push(finished);
            }
            i += 1;
            continue;
        }
        match state {
            State::LineComment => {
                current.comment.push(c);
                i += 1;
            }
            State::BlockComment => {
                if c == '#' && next == Some('>') {
                    stack.pop();
                    i += 2;
                } else {
                    current.comment.push(c);
                    i += 1;
                }
            }
            State::Single => {
                current.raw.push(c);
                if c == '\'' && next == Some('\'') {
                    current.raw.push('\'');
                    current.code.push_str("__");
                    i += 2;
                } else if c == '\'' {
                    current.code.push(if stack.len() > 2 { '_' } else { '\'' });
                    stack.pop();
                    i += 1;
                } else {
                    current.code.push('_');
                    i += 1;
                }
            }
            State::HereSingle | State::HereDouble => {
                let quote = if state == State::HereSingle { '\'' } else { '"' };
                current.raw.push(c);
                if c == quote && next == Some('@') && line_start_before(&current.raw) {
                    current.raw.push('@');
                    current.code.push_str("\"@");
                    stack.pop();
                    i += 2;
                } else {
                    current.code.push('_');
                    i += 1;
                }
            }
            State::Double => {
                current.raw.push(c);
                if c == '`' {
                    if let Some(n) = next {
                        current.raw.push(n);
                        if n == '\n' {
                            physical += 1;
                        }
                    }
                    current.code.push_str("__");
                    i += 2;
                } else if c == '"' && next == Some('"') {
                    current.raw.push('"');
                    current.code.push_str("__");
                    i += 2;
                } else if c == '"' {
                    current.code.push(if stack.len() > 2 { '_' } else { '"' });
                    stack.pop();
                    i += 1;
                } else if c == '$' && next == Some('(') {
                    current.raw.push('(');
                    current.code.push_str("__");
                    stack.push(State::Subexpression(0));
                    i += 2;
                } else {
                    current.code.push('_');
                    i += 1;
                }
            }
            State::Code | State::Subexpression(_) => {
                let masked = matches!(state, State::Subexpression(_));
                let mask = |s: &str| if masked { "_".repeat(s.chars().count()) } else { s.to_string() };
                if c == '<' && next == Some('#') {
                    stack.push(State::BlockComment);
                    i += 2;
                } else if c == '#' && comment_may_start(&current.raw) {
                    stack.push(State::LineComment);
                    i += 1;
                } else if c == '@' && (next == Some('\'') || next == Some('"')) && chars.get(i + 2) == Some(&'\n') {
                    stack.push(if next == Some('\'') { State::HereSingle } else { State::HereDouble });
                    current.raw.push('@');
                    current.raw.push(next.unwrap_or('"'));
                    current.code.push_str(&mask("@\""));
                    i += 2;
                } else if c == '\'' {
                    stack.push(State::Single);
                    current.raw.push(c);
                    current.code.push_str(&mask("'"));
                    i += 1;
                } else if c == '"' {
                    stack.push(State::Double);
                    current.raw.push(c);
                    current.code.push_str(&mask("\""));
                    i += 1;
                } else if c == '`' {
                    // An escaped character in code (the line continuation is handled at the newline).
                    current.raw.push(c);
                    current.code.push(c);
                    i += 1;
                } else {
                    if let State::Subexpression(depth) = state {
                        match c {
                            '(' => *stack.last_mut().ok_or("lexer state underflow")? = State::Subexpression(depth + 1),
                            ')' if depth == 0 => {
                                stack.pop();
                            }
                            ')' => *stack.last_mut().ok_or("lexer state underflow")? = State::Subexpression(depth - 1),
                            _ => {}
                        }
                    } else {
                        match c {
                            '(' | '[' => brackets += 1,
                            ')' | ']' => {
                                brackets =
                                    brackets.checked_sub(1).ok_or(format!("line {physical}: `{c}` closes nothing"))?;
                            }
                            _ => {}
                        }
                    }
                    current.raw.push(c);
                    current.code.push_str(&mask(&c.to_string()));
                    i += 1;
                }
            }
        }
    }
    match stack.as_slice() {
        [State::Code] | [State::Code, State::LineComment] => {}
        other => return Err(format!("unterminated {:?} at the end of the script", other.last())),
    }
    if brackets != 0 {
        return Err("unclosed `(` or `[` at the end of the script".into());
    }
    lines.push(current);
    Ok(lines)
}

/// `#` starts a comment at the start of a token.
fn comment_may_start(raw: &str) -> bool {
    raw.chars().last().is_none_or(|p| p.is_whitespace() || ";({})|,=".contains(p))
}

/// A here-string's closing quote must start a line.
fn line_start_before(raw: &str) -> bool {
    let before = &raw[..raw.len().saturating_sub(1)];
    before.ends_with('\n')
}

/// A native command run by the script.
#[derive(Debug, Clone)]
pub struct Native {
    /// Index of the logical line in [`logical_lines`]' result.
    pub line: usize,
    /// The command: `pnputil.exe`, `$DevGen`, `$tools.signtool`...
    pub command: String,
    /// The statement from the command to its end, strings intact.
    pub statement: String,
    /// Where the statement ends in the line's code (a char index).
    pub end: usize,
    /// Its output is assigned or used as an operand.
    pub captured: bool,
    /// The commands its output is piped into.
    pub piped_into: Vec<String>,
}

impl Native {
    /// The program's base name, lower case, without `.exe` (`$tools.signtool` -> `signtool`).
    pub fn program(&self) -> String {
        let name = self.command.rsplit(['.', '\\', '/']).find(|part| !part.eq_ignore_ascii_case("exe")).unwrap_or("");
        name.trim_start_matches('$').to_ascii_lowercase()
    }
}

/// Every native command in the lines, in order.
pub fn natives(lines: &[Line]) -> Vec<Native> {
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let code: Vec<char> = line.code.chars().collect();
        let raw: Vec<char> = line.raw.chars().collect();
        for start in statement_starts(&code) {
            let mut at = start;
            while at < code.len() && code[at].is_whitespace() {
                at += 1;
            }
            let before: String = code[..start].iter().collect::<String>().trim_end().to_string();
            let captured = before.ends_with('=') || before.ends_with('(');
            let (command_start, explicit) =
                if code.get(at) == Some(&'&') && code.get(at + 1).is_some_and(|c| c.is_whitespace()) {
                    let mut c = at + 1;
                    while c < code.len() && code[c].is_whitespace() {
                        c += 1;
                    }
                    if code.get(c) == Some(&'{') {
                        continue;
                    }
                    (c, true)
                } else {
                    (at, false)
                };
            let command_end = (command_start..code.len())
                .find(|&k| code[k].is_whitespace() || ";|)}".contains(code[k]))
                .unwrap_or(code.len());
            let command: String = raw[command_start..command_end].iter().collect();
            if command.is_empty() {
                continue;
            }
            if !explicit {
                let bare = command.to_ascii_lowercase();
                let bare = bare.strip_suffix(".exe").unwrap_or(&bare);
                if !KNOWN_PROGRAMS.contains(&bare) {
                    continue;
                }
            }
            let end = statement_end(&code, command_end);
            let statement: String = raw[command_start..end].iter().collect();
            let masked: String = code[command_end..end].iter().collect();
            let piped_into = masked
                .split('|')
                .skip(1)
                .map(|element| element.split_whitespace().next().unwrap_or("").to_ascii_lowercase())
                .collect();
            found.push(Native { line: index, command, statement, end, captured, piped_into });
        }
    }
    found
}

/// Where statements (and pipeline elements) begin: the line start and after `;`, `{`, `}`, `(`,
/// `=` and `|`.
fn statement_starts(code: &[char]) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, &c) in code.iter().enumerate() {
        let assignment = c == '=' && i > 0 && !"!<>=+-*/%".contains(code[i - 1]) && code.get(i + 1) != Some(&'=');
        if ";{}(|".contains(c) || assignment {
            starts.push(i + 1);
        }
    }
    starts
}

/// The end of the statement that continues at `from`: a `;` or an unbalanced closing bracket.
fn statement_end(code: &[char], from: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in code.iter().enumerate().skip(from) {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' if depth == 0 => return k,
            ')' | '}' | ']' => depth -= 1,
            ';' if depth == 0 => return k,
            _ => {}
        }
    }
    code.len()
}

/// How a native command's exit code is handled.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitCheck {
    /// Index of the logical line with the comparison.
    pub line: usize,
    /// The exit codes the comparison names (`-notin 0, 259`, `-ne 0`, `-eq 2`...).
    pub codes: Vec<i64>,
}

fn mentions_last_exit_code(code: &str) -> bool {
    code.to_ascii_lowercase().contains("$lastexitcode")
}

/// The numbers a comparison names after `-notin`/`-in` (lists) and `-ne`/`-eq` (one number).
pub fn compared_codes(code: &str) -> Vec<i64> {
    let lower = code.to_ascii_lowercase();
    let tokens: Vec<&str> = lower.split_whitespace().collect();
    let mut codes = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            "-notin" | "-in" => {
                for item in &tokens[i + 1..] {
                    let number = item.trim_end_matches(',').trim_end_matches(')');
                    match number.parse::<i64>() {
                        Ok(n) => codes.push(n),
                        Err(_) => break,
                    }
                    if !item.ends_with(',') {
                        break;
                    }
                }
            }
            "-ne" | "-eq" => {
                if let Some(n) = tokens.get(i + 1).and_then(|t| t.trim_end_matches(')').parse::<i64>().ok()) {
                    codes.push(n);
                }
            }
            _ => {}
        }
    }
    codes
}

/// The check of `native`'s exit code, if the script has one where the rules want it.
pub fn exit_check(lines: &[Line], native: &Native) -> Option<ExitCheck> {
    // The rest of the same line after the statement (`& x; if ($LASTEXITCODE ...)`).
    let rest: String = lines[native.line].code.chars().skip(native.end).collect();
    if mentions_last_exit_code(&rest) {
        return Some(ExitCheck { line: native.line, codes: compared_codes(&rest) });
    }
    let (next_index, next) = lines.iter().enumerate().skip(native.line + 1).find(|(_, l)| !l.code.trim().is_empty())?;
    if !mentions_last_exit_code(&next.code) {
        return None;
    }
    // `$name = $LASTEXITCODE`: the first later comparison of $name is the check.
    let saved = next.code.trim().split_once('=').and_then(|(left, right)| {
        let name = left.trim();
        (name.starts_with('$') && right.trim().eq_ignore_ascii_case("$lastexitcode")).then(|| name.to_ascii_lowercase())
    });
    match saved {
        None => Some(ExitCheck { line: next_index, codes: compared_codes(&next.code) }),
        Some(name) => lines.iter().enumerate().skip(next_index + 1).find_map(|(k, l)| {
            let lower = l.code.to_ascii_lowercase();
            let compared = ["-ne", "-eq", "-notin", "-in", "-gt", "-lt", "-ge", "-le"]
                .iter()
                .any(|op| lower.contains(&format!("{name} {op}")));
            compared.then(|| ExitCheck { line: k, codes: compared_codes(&l.code) })
        }),
    }
}

/// The comments that document `native`: its line's, the block of comment lines right above it,
/// and the check line's.
pub fn documentation(lines: &[Line], native: &Native, check: &ExitCheck) -> String {
    let mut text = lines[native.line].comment.clone();
    for line in lines[..native.line].iter().rev() {
        if !line.code.trim().is_empty() || line.comment.trim().is_empty() {
            break;
        }
        text.push('\n');
        text.push_str(&line.comment);
    }
    text.push('\n');
    text.push_str(&lines[check.line].comment);
    text
}

fn mentions_number(text: &str, number: i64) -> bool {
    text.split(|c: char| !c.is_ascii_digit()).any(|word| word == number.to_string())
}

/// Everything the rules find wrong in a script, one message per finding.
pub fn lint(name: &str, text: &str) -> Vec<String> {
    let lines = match logical_lines(text) {
        Ok(lines) => lines,
        Err(error) => return vec![format!("{name}: does not lex: {error}")],
    };
    let mut findings = Vec::new();
    for native in natives(&lines) {
        let at = format!("{name}:{} `{}`", lines[native.line].number, native.statement.trim());
        if native.captured {
            findings.push(format!("{at}: its output is assigned or used as a value (parsing a tool's text)"));
        }
        for sink in &native.piped_into {
            if !OUTPUT_SINKS.contains(&sink.as_str()) {
                findings.push(format!("{at}: its output is piped into {sink} (parsing a tool's text)"));
            }
        }
        match exit_check(&lines, &native) {
            None => findings.push(format!("{at}: $LASTEXITCODE is not checked by the next statement")),
            Some(check) => {
                let docs = documentation(&lines, &native, &check);
                for code in check.codes.iter().filter(|&&c| c != 0) {
                    if !mentions_number(&docs, *code) {
                        findings
                            .push(format!("{at}: exit code {code} is handled but not explained in a comment above it"));
                    }
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexer_joins_continuations_and_masks_strings() {
        let lines =
            logical_lines("$a = 'x # y' # comment\nfoo `\n  bar | \n  baz\n(1,\n 2)\n<# block\n #>\n\"$(\"in\")\"")
                .unwrap();
        let codes: Vec<&str> = lines.iter().map(|l| l.code.trim()).collect();
        assert_eq!(codes[0], "$a = '_____'");
        assert_eq!(lines[0].comment.trim(), "comment");
        assert_eq!(codes[1].split_whitespace().collect::<Vec<_>>(), ["foo", "bar", "|", "baz"]);
        assert_eq!(codes[2].split_whitespace().collect::<Vec<_>>(), ["(1,", "2)"]);
        assert_eq!(lines[3].comment.trim(), "block");
        assert_eq!(codes[4], "\"_______\"", "every character inside the string is masked");
        assert!(logical_lines("'open").is_err());
        assert!(logical_lines("(open").is_err());
        assert!(logical_lines("<# open").is_err());
    }

    #[test]
    fn lint_rejects_what_it_should() {
        // Unchecked, and checked only after another statement.
        assert_eq!(lint("t", "& pnputil.exe /x\nWrite-Host hi\nif ($LASTEXITCODE -ne 0) { throw }").len(), 1);
        assert_eq!(lint("t", "bcdedit /debug on\nbcdedit /set x\nif ($LASTEXITCODE -ne 0) { throw }").len(), 1);
        // Output parsed.
        let captured = lint("t", "$lines = & pnputil.exe /enum-drivers\nif ($LASTEXITCODE -ne 0) { throw }");
        assert!(captured.iter().any(|f| f.contains("assigned")), "{captured:?}");
        let piped = lint("t", "& pnputil.exe /enum-drivers | Select-String x\nif ($LASTEXITCODE -ne 0) { throw }");
        assert!(piped.iter().any(|f| f.contains("select-string")), "{piped:?}");
        // An accepted code without an explanation, then with one.
        let undocumented =
            lint("t", "& pnputil.exe /add-driver x /install\nif ($LASTEXITCODE -notin 0, 259) { throw }");
        assert!(undocumented.iter().any(|f| f.contains("exit code 259")), "{undocumented:?}");
        assert!(lint("t", "# 259: no device matched\n& pnputil.exe /add-driver x /install\nif ($LASTEXITCODE -notin 0, 259) { throw }")
            .is_empty());
        // Saved, then compared.
        assert!(lint(
            "t",
            "& $Runner @a | Tee-Object -FilePath l\n$code = $LASTEXITCODE\nif ($code -ne 0) { exit $code }"
        )
        .is_empty());
        assert_eq!(lint("t", "& $Runner\n$code = $LASTEXITCODE\nWrite-Host done").len(), 1);
        // A script block is not a native command; a cmdlet is not one either.
        assert!(lint("t", "& { Get-Item x }\nGet-PnpDevice -PresentOnly").is_empty());
    }

    #[test]
    fn compared_codes_reads_lists_and_single_values() {
        assert_eq!(compared_codes("if ($LASTEXITCODE -notin 0, 259, 3010) { throw }"), [0, 259, 3010]);
        assert_eq!(compared_codes("if ($x -ne 0 -and $x -ne 3010)"), [0, 3010]);
        assert_eq!(compared_codes("if ($x -eq 2) {"), [2]);
    }
}
