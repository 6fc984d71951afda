//! Plain-text tables that line up with Chinese text: columns are padded by
//! display width (a CJK character takes two terminal columns), not by
//! characters or bytes.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Terminal columns the text takes.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// The text padded with spaces on the right to `columns`.
pub fn pad_right(text: &str, columns: usize) -> String {
    let mut out = String::from(text);
    out.extend(std::iter::repeat_n(' ', columns.saturating_sub(width(text))));
    out
}

/// The text padded with spaces on the left to `columns`.
pub fn pad_left(text: &str, columns: usize) -> String {
    let mut out: String = std::iter::repeat_n(' ', columns.saturating_sub(width(text))).collect();
    out.push_str(text);
    out
}

/// The text cut to at most `columns` display columns, ending in `…` when cut.
pub fn truncate(text: &str, columns: usize) -> String {
    if width(text) <= columns {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > columns {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// One line: control characters (newlines, tabs) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A table with a header row.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    limits: Vec<Option<usize>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, all left-aligned.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            right: vec![false; headers.len()],
            limits: vec![None; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns these columns (numbers).
    pub fn right(mut self, columns: &[usize]) -> Table {
        for &c in columns {
            self.right[c] = true;
        }
        self
    }

    /// Cuts cells of a column to at most `columns` display columns.
    pub fn limit(mut self, column: usize, columns: usize) -> Table {
        self.limits[column] = Some(columns);
        self
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.headers.len())
            .enumerate()
            .map(|(i, c)| {
                let c = one_line(&c.into());
                match self.limits[i] {
                    Some(max) => truncate(&c, max),
                    None => c,
                }
            })
            .collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The header and every row, each line ending in a newline, without
    /// trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| if self.right[i] { pad_left(cell, widths[i]) } else { pad_right(cell, widths[i]) })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// `label  value` lines with the labels padded to one width.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(label, _)| width(label)).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let value = if value.is_empty() { "-" } else { value.as_str() };
        // Multi-line values (a body) continue under the value column.
        let mut lines = value.lines();
        out.push_str(format!("{}  {}", pad_right(label, w), lines.next().unwrap_or("")).trim_end());
        out.push('\n');
        for line in lines {
            out.push_str(format!("{}  {line}", " ".repeat(w)).trim_end());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_takes_two_columns() {
        assert_eq!(width("民乐县"), 6);
        assert_eq!(width("620722"), 6);
        assert_eq!(width("调研/research"), 13);
        assert_eq!(pad_right("民乐县", 8), "民乐县  ");
        assert_eq!(pad_left("张掖市", 7), " 张掖市");
        assert_eq!(pad_right("too wide", 3), "too wide");
    }

    #[test]
    fn truncation_counts_display_columns() {
        assert_eq!(truncate("河西走廊节水农业发展调研", 9), "河西走廊…");
        assert_eq!(width(&truncate("河西走廊节水农业发展调研", 9)), 9);
        assert_eq!(truncate("short", 9), "short");
        assert_eq!(truncate("abcdefghij", 5), "abcd…");
    }

    #[test]
    fn columns_line_up_with_mixed_scripts() {
        let mut t = Table::new(&["node", "events", "title"]).right(&[1]);
        t.row(["民乐县 620722", "12", "关于加强山区农村饮水安全保障的建议"]);
        t.row(["620000", "3", "ascii\ntitle"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "node           events  title");
        assert_eq!(lines[1], "民乐县 620722      12  关于加强山区农村饮水安全保障的建议");
        assert_eq!(lines[2], "620000              3  ascii title");
    }

    #[test]
    fn limited_columns_are_cut() {
        let mut t = Table::new(&["title", "n"]).limit(0, 6);
        t.row(["节水农业调研", "1"]);
        assert_eq!(t.render().lines().nth(1).unwrap(), "节水…  1");
    }

    #[test]
    fn fields_align_labels() {
        let text = fields(&[("id", "x".into()), ("title", "民乐县".into()), ("body", "a\nb".into()), ("n", "".into())]);
        assert_eq!(text, "id     x\ntitle  民乐县\nbody   a\n       b\nn      -\n");
    }
}
