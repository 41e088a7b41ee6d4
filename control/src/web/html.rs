//! HTML the pages are made of: escaping, and the layout every page shares (a skip link, a
//! header with the search box and the account's links, the main landmark, the scripts).

use std::fmt::Write;

use crate::domain::accounts::Role;
use crate::services::accounts::Session;

/// `text` with `&`, `<`, `>`, `"` and `'` escaped: safe in element content and in quoted
/// attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: its title, what it needs beyond the app's own script, its main content.
pub struct Page<'a> {
    /// The `<title>` (the site's name follows it).
    pub title: &'a str,
    /// The signed-in person, if any.
    pub viewer: Option<&'a Session>,
    /// Extra scripts (`/static/…`) the page needs, loaded before the app's.
    pub scripts: &'a [&'a str],
    /// The content of `<main>`.
    pub main: String,
    /// The search box's current text.
    pub query: &'a str,
}

impl Page<'_> {
    /// The whole document.
    pub fn render(&self) -> String {
        let mut h = String::with_capacity(self.main.len() + 2048);
        let _ = write!(
            h,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} · Sunomi</title><link rel=\"stylesheet\" href=\"/static/app.css\">",
            esc(self.title)
        );
        if let Some(s) = self.viewer {
            let _ = write!(h, "<meta name=\"csrf-token\" content=\"{}\">", esc(&s.csrf));
        }
        h.push_str(
            "</head><body><a class=\"skip\" href=\"#main\">Skip to content</a>\
             <header class=\"top\"><a class=\"brand\" href=\"/\">Sunomi</a>\
             <form class=\"search\" role=\"search\" action=\"/search\" method=\"get\">\
             <label for=\"q\" class=\"visually-hidden\">Search</label>",
        );
        let _ = write!(
            h,
            "<input id=\"q\" name=\"q\" type=\"search\" value=\"{}\" placeholder=\"Search\" \
             autocomplete=\"off\" list=\"search-suggestions\"><datalist id=\"search-suggestions\"></datalist>\
             <button type=\"submit\">Search</button></form><nav aria-label=\"Account\"><ul>",
            esc(self.query)
        );
        match self.viewer {
            Some(s) => {
                if s.user.role.allows(Role::Admin) {
                    h.push_str("<li><a href=\"/admin\">Admin</a></li>");
                }
                if s.user.role.allows(Role::Moderator) {
                    h.push_str("<li><a href=\"/moderation\">Moderation</a></li>");
                }
                let _ = write!(
                    h,
                    "<li><a href=\"/notifications\" data-notifications>Notifications</a></li>\
                     <li><a href=\"/feed\">Subscriptions</a></li>\
                     <li><a href=\"/upload\">Upload</a></li><li><a href=\"/studio\">Studio</a></li>\
                     <li><a href=\"/settings\" class=\"who\" aria-label=\"Settings for {0}\">{0}</a></li>\
                     <li><button type=\"button\" data-signout>Sign out</button></li>",
                    esc(&s.user.display_name)
                );
            }
            None => h.push_str(
                "<li><a href=\"/upload\">Upload</a></li><li><a href=\"/signin\">Sign in</a></li>\
                 <li><a href=\"/signup\">Sign up</a></li>",
            ),
        }
        h.push_str("</ul></nav></header><main id=\"main\" tabindex=\"-1\">");
        h.push_str(&self.main);
        h.push_str("</main>");
        for s in self.scripts {
            let _ = write!(h, "<script src=\"/static/{}\"></script>", esc(s));
        }
        h.push_str("<script type=\"module\" src=\"/static/app.js\"></script></body></html>");
        h
    }
}

/// "3 minutes ago" for an RFC 3339 time, from `now` (Unix seconds).
pub fn age(rfc3339: &str, now: u64) -> String {
    let Ok(t) = humantime::parse_rfc3339(rfc3339) else {
        return String::new();
    };
    let then = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = now.saturating_sub(then);
    let (n, unit) = match secs {
        0..=59 => return "just now".into(),
        60..=3_599 => (secs / 60, "minute"),
        3_600..=86_399 => (secs / 3_600, "hour"),
        86_400..=2_591_999 => (secs / 86_400, "day"),
        2_592_000..=31_535_999 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// `m:ss` or `h:mm:ss` for a duration in seconds.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_break_out_of_content_or_attributes() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn ages_and_clocks_read_naturally() {
        let now = 1_700_000_000;
        assert_eq!(age("2023-11-14T22:13:20Z", now), "just now");
        assert_eq!(age("2023-11-14T21:13:20Z", now), "1 hour ago");
        assert_eq!(age("2023-11-12T22:13:20Z", now), "2 days ago");
        assert_eq!(age("garbage", now), "");
        assert_eq!(clock(65.4), "1:05");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
