//! One log line's ANSI escapes as HTML: SGR colours (the 16 named ones; 256-colour and RGB
//! colours mapped to the nearest of them, since the console's style sheet allows no inline
//! styles), bold, italic and underline become `<span>`s with classes; every other escape
//! sequence and control character is dropped. Text is escaped. Each line starts in the default
//! style, so a line renders the same wherever a page of the log starts.

use anstyle_parse::{DefaultCharAccumulator, Params, Parser, Perform};

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn classes(self) -> String {
        let mut classes = Vec::new();
        if let Some(fg) = self.fg {
            classes.push(format!("a-fg{fg}"));
        }
        if let Some(bg) = self.bg {
            classes.push(format!("a-bg{bg}"));
        }
        for (on, class) in [
            (self.bold, "a-b"),
            (self.italic, "a-i"),
            (self.underline, "a-u"),
        ] {
            if on {
                classes.push(class.to_string());
            }
        }
        classes.join(" ")
    }

    /// Applies one SGR sequence's parameters.
    fn apply(&mut self, params: &Params) {
        // `38;5;n` and `38:5:n` both name a 256-colour: flatten the groups, remembering that a
        // colon group carries its own arguments.
        let groups: Vec<&[u16]> = params.iter().collect();
        if groups.is_empty() {
            *self = Style::default();
            return;
        }
        let mut i = 0;
        while i < groups.len() {
            let group = groups[i];
            let code = group.first().copied().unwrap_or(0);
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => self.bold = false,
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some((code - 30) as u8),
                39 => self.fg = None,
                40..=47 => self.bg = Some((code - 40) as u8),
                49 => self.bg = None,
                90..=97 => self.fg = Some((code - 90 + 8) as u8),
                100..=107 => self.bg = Some((code - 100 + 8) as u8),
                38 | 48 => {
                    let (colour, used) = if group.len() > 1 {
                        (extended_colour(&group[1..]), 0)
                    } else {
                        let rest: Vec<u16> = groups[i + 1..]
                            .iter()
                            .map(|g| g.first().copied().unwrap_or(0))
                            .collect();
                        let used = match rest.first() {
                            Some(5) => 2,
                            Some(2) => 4,
                            _ => rest.len(),
                        };
                        (extended_colour(&rest[..used.min(rest.len())]), used)
                    };
                    if code == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                    i += used;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// The named colour nearest to `5;n` (256 colours) or `2;r;g;b` (RGB).
fn extended_colour(args: &[u16]) -> Option<u8> {
    match args {
        [5, n, ..] => Some(nearest_of_256(*n)),
        // `2:<colour space>:r:g:b` has an extra field in the colon form; take the last three.
        [2, rest @ ..] if rest.len() >= 3 => {
            let rgb = &rest[rest.len() - 3..];
            Some(nearest_of_rgb(rgb[0], rgb[1], rgb[2]))
        }
        _ => None,
    }
}

fn nearest_of_256(n: u16) -> u8 {
    match n {
        0..=15 => n as u8,
        16..=231 => {
            let n = n - 16;
            let scale = |c: u16| c * 51;
            nearest_of_rgb(scale(n / 36), scale(n / 6 % 6), scale(n % 6))
        }
        232..=255 => match n - 232 {
            0..=5 => 0,
            6..=11 => 8,
            12..=17 => 7,
            _ => 15,
        },
        _ => 7,
    }
}

fn nearest_of_rgb(r: u16, g: u16, b: u16) -> u8 {
    let bits = u8::from(r >= 128) | u8::from(g >= 128) << 1 | u8::from(b >= 128) << 2;
    let bright = r.max(g).max(b) >= 200;
    bits + if bright { 8 } else { 0 }
}

/// Builds the HTML of one line while the parser reads it.
#[derive(Default)]
struct Html {
    out: String,
    style: Style,
    /// The style of the open `<span>`, if one is open.
    open: Option<Style>,
}

impl Html {
    fn push_char(&mut self, c: char) {
        let wanted = (self.style != Style::default()).then_some(self.style);
        if self.open != wanted {
            self.close();
            if let Some(style) = wanted {
                self.out.push_str("<span class=\"");
                self.out.push_str(&style.classes());
                self.out.push_str("\">");
                self.open = Some(style);
            }
        }
        match c {
            '<' => self.out.push_str("&lt;"),
            '>' => self.out.push_str("&gt;"),
            '&' => self.out.push_str("&amp;"),
            '"' => self.out.push_str("&quot;"),
            '\'' => self.out.push_str("&#39;"),
            c => self.out.push(c),
        }
    }

    fn close(&mut self) {
        if self.open.take().is_some() {
            self.out.push_str("</span>");
        }
    }
}

impl Perform for Html {
    fn print(&mut self, c: char) {
        self.push_char(c);
    }

    fn execute(&mut self, byte: u8) {
        if byte == b'\t' {
            self.push_char('\t');
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: u8) {
        if action == b'm' && intermediates.is_empty() && !ignore {
            self.style.apply(params);
        }
    }
}

/// The HTML of one log line (without its line break). A carriage return starts the line
/// over, as on a terminal, so only what follows the last one shows (progress bars).
pub fn line_to_html(line: &str) -> String {
    let shown = line
        .rsplit('\r')
        .find(|part| !part.is_empty())
        .unwrap_or("");
    let mut parser = Parser::<DefaultCharAccumulator>::new();
    let mut html = Html::default();
    for byte in shown.bytes() {
        parser.advance(&mut html, byte);
    }
    html.close();
    html.out
}

#[cfg(test)]
mod tests {
    use super::line_to_html;

    #[test]
    fn colours_and_bold_become_classed_spans() {
        assert_eq!(
            line_to_html("\x1b[31merror\x1b[0m: \x1b[1;32mok\x1b[22m!"),
            "<span class=\"a-fg1\">error</span>: <span class=\"a-fg2 a-b\">ok</span><span class=\"a-fg2\">!</span>"
        );
        assert_eq!(line_to_html("\x1b[91mx"), "<span class=\"a-fg9\">x</span>");
        assert_eq!(
            line_to_html("\x1b[44mx\x1b[49my"),
            "<span class=\"a-bg4\">x</span>y"
        );
    }

    #[test]
    fn extended_colours_map_to_named_ones() {
        assert_eq!(
            line_to_html("\x1b[38;5;196mx"),
            "<span class=\"a-fg9\">x</span>"
        );
        assert_eq!(
            line_to_html("\x1b[38:5:2mx"),
            "<span class=\"a-fg2\">x</span>"
        );
        assert_eq!(
            line_to_html("\x1b[38;2;0;0;139;1mx"),
            "<span class=\"a-fg4 a-b\">x</span>"
        );
        assert_eq!(line_to_html("\x1b[38;5mx"), "x");
    }

    #[test]
    fn text_is_escaped_and_other_escapes_dropped() {
        assert_eq!(
            line_to_html("<b>&\"'</b>"),
            "&lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;"
        );
        // Cursor moves, title changes, a cut sequence and a bell leave nothing behind.
        assert_eq!(line_to_html("a\x1b[2Kb\x1b]0;title\x07c\x07d\x1b["), "abcd");
        assert_eq!(line_to_html("a\x1b[?25lb"), "ab");
        assert_eq!(line_to_html("a\tb"), "a\tb");
    }

    #[test]
    fn a_carriage_return_starts_the_line_over() {
        assert_eq!(line_to_html("10%\r50%\r100%"), "100%");
        assert_eq!(line_to_html("done\r"), "done");
    }

    #[test]
    fn hostile_parameters_do_not_panic() {
        let long = format!("\x1b[{}mx", "38;".repeat(10_000));
        assert_eq!(line_to_html(&long), "x");
        assert_eq!(line_to_html("\x1b[99999999999mx"), "x");
        assert_eq!(line_to_html("\x1b[48;2;1;2mx"), "x");
    }
}
