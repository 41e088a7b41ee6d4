//! Common Media Client Data (CTA-5004): the keys the edge acts on. `nor` (next object
//! request) is a player's hint of what it will ask for next, used to prefetch it; `sid`
//! (session id) carries the page's view ticket (`crate::views`). Players send CMCD as a `CMCD`
//! query argument or in `CMCD-Request` / `CMCD-Session` headers.

use percent_encoding::percent_decode_str;

/// The path of the next object a player announced, resolved against `request_path`, from the
/// request's query string or `CMCD-Request` header. `None` when absent or unusable.
pub fn next_object(
    request_path: &str,
    query: Option<&str>,
    header: Option<&str>,
) -> Option<String> {
    let from_query = from_query(query);
    let data = from_query.as_deref().or(header)?;
    let nor = find_key(data, "nor")?;
    let nor = percent_decode_str(nor).decode_utf8().ok()?;
    resolve(request_path, &nor)
}

/// The player's session id, from the query string or the `CMCD-Session` header. `None` when
/// absent.
pub fn session_id(query: Option<&str>, header: Option<&str>) -> Option<String> {
    let from_query = from_query(query);
    let data = from_query.as_deref().or(header)?;
    find_key(data, "sid").map(str::to_owned)
}

/// The decoded value of the `CMCD` query argument.
fn from_query(query: Option<&str>) -> Option<std::borrow::Cow<'_, str>> {
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "CMCD").then(|| percent_decode_str(value).decode_utf8().ok())?
    })
}

/// The value of `key` in a CMCD list (`k=v,k="string",flag`), quotes removed.
fn find_key<'a>(data: &'a str, key: &str) -> Option<&'a str> {
    // Values are numbers, tokens or quoted strings; quoted strings may hold commas only
    // percent-encoded, so splitting on ',' is safe.
    data.split(',').find_map(|item| {
        let (k, v) = item.trim().split_once('=')?;
        (k == key).then(|| v.trim_matches('"'))
    })
}

/// Resolves a relative reference against the directory of `base`, removing `.` and `..`
/// segments. Absolute paths are taken as they are; anything with a scheme is refused.
fn resolve(base: &str, reference: &str) -> Option<String> {
    if reference.is_empty() || reference.contains("://") || reference.contains('?') {
        return None;
    }
    let joined = if reference.starts_with('/') {
        reference.to_string()
    } else {
        let dir = &base[..base.rfind('/')? + 1];
        format!("{dir}{reference}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for segment in joined.split('/').skip(1) {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "/v/abc/720p/3.m4s";

    #[test]
    fn the_session_id_from_the_query_or_the_session_header() {
        let q = "CMCD=bl%3D21300%2Cnor%3D%224.m4s%22%2Csid%3D%22t1.ab.pb.9.10.ff%22";
        assert_eq!(
            session_id(Some(q), None).as_deref(),
            Some("t1.ab.pb.9.10.ff")
        );
        let h = r#"sid="6e2fb550-c457-11e9-bb97-0800200c9a66""#;
        assert_eq!(
            session_id(None, Some(h)).as_deref(),
            Some("6e2fb550-c457-11e9-bb97-0800200c9a66")
        );
        assert_eq!(session_id(Some("x=1"), None), None);
        assert_eq!(session_id(Some("CMCD=bl%3D1"), None), None);
    }

    #[test]
    fn nor_from_the_query_argument() {
        // CTA-5004 example form: the whole CMCD value is URL-encoded, and nor inside it too.
        let q = "CMCD=bl%3D21300%2Cnor%3D%224.m4s%22%2Csid%3D%226e2fb550%22";
        assert_eq!(
            next_object(BASE, Some(q), None).as_deref(),
            Some("/v/abc/720p/4.m4s")
        );
        let q = "x=1&CMCD=nor%3D%22..%252F480p%252F4.m4s%22";
        assert_eq!(
            next_object(BASE, Some(q), None).as_deref(),
            Some("/v/abc/480p/4.m4s")
        );
    }

    #[test]
    fn nor_from_the_header() {
        let h = r#"nor="..%2Faudio%2Fen%2F4.m4s",nrr="0-""#;
        assert_eq!(
            next_object(BASE, None, Some(h)).as_deref(),
            Some("/v/abc/audio/en/4.m4s")
        );
        assert_eq!(
            next_object(BASE, None, Some(r#"nor="/v/abc/720p/9.m4s""#)).as_deref(),
            Some("/v/abc/720p/9.m4s")
        );
    }

    #[test]
    fn absent_or_hostile_hints_are_ignored() {
        assert_eq!(next_object(BASE, None, None), None);
        assert_eq!(next_object(BASE, Some("a=b"), Some("bl=100")), None);
        assert_eq!(
            next_object(BASE, None, Some(r#"nor="http://evil/x""#)),
            None
        );
        assert_eq!(
            next_object(BASE, None, Some(r#"nor="../../../../../etc""#)),
            None
        );
        assert_eq!(next_object(BASE, Some("CMCD=%ff%fe"), None), None);
    }
}
