//! Page tokens (AIP-158), one format for the event log and the four views.
//!
//! A token is opaque to callers: the hex of the request's *scope* (what it
//! asked for: the range, the filters) and a *cursor* (where the next page
//! starts: a position, a seq, the last id). A token is refused unless the
//! same request presents it, so it cannot be replayed against another
//! range or other filters.

/// A token this request did not get (not made here, or for another scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadToken;

/// The token of the page after the one that ended at `cursor` (which
/// holds no line break).
pub fn token(cursor: &str, scope: &str) -> String {
    hex::encode(format!("{scope}\n{cursor}"))
}

/// The cursor a token names, `None` for the first page (no token).
pub fn cursor(token: &str, scope: &str) -> Result<Option<String>, BadToken> {
    if token.is_empty() {
        return Ok(None);
    }
    let text = hex::decode(token).ok().and_then(|b| String::from_utf8(b).ok()).ok_or(BadToken)?;
    // The scope may hold anything a filter does (a keyword with a line
    // break); a cursor never holds one, so the last line is the cursor.
    match text.rsplit_once('\n') {
        Some((s, cursor)) if s == scope => Ok(Some(cursor.to_string())),
        _ => Err(BadToken),
    }
}

/// The number a token's cursor names (a position, a seq, an offset).
pub fn numeric_cursor(token: &str, scope: &str) -> Result<Option<u64>, BadToken> {
    cursor(token, scope)?.map(|c| c.parse().map_err(|_| BadToken)).transpose()
}
