//! InfluxDB line protocol: `measurement,tag=v field=1i,other="s" 1700000000000000000`.
//!
//! Escaping (InfluxDB docs): measurement names escape commas and spaces; tag keys, tag values
//! and field keys escape commas, equals signs and spaces; string field values escape double
//! quotes and backslashes. Integer fields carry an `i` suffix. Timestamps are nanoseconds.

use std::fmt::Write;

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// Integer (`i` suffix).
    Int(i64),
    /// Float.
    Float(f64),
    /// String (quoted).
    Str(String),
    /// Boolean.
    Bool(bool),
}

fn escape(out: &mut String, s: &str, specials: &[char]) {
    for c in s.chars() {
        if specials.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Builds one line. Tags are sorted by key (InfluxDB's recommendation); fields keep their order.
/// Returns `None` when there are no fields (not a valid point).
pub fn point(
    measurement: &str,
    tags: &[(&str, String)],
    fields: &[(&str, Field)],
    timestamp_ns: i64,
) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(128);
    escape(&mut out, measurement, &[',', ' ']);
    let mut tags: Vec<&(&str, String)> = tags.iter().filter(|(_, v)| !v.is_empty()).collect();
    tags.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in tags {
        out.push(',');
        escape(&mut out, k, &[',', '=', ' ']);
        out.push('=');
        escape(&mut out, v, &[',', '=', ' ']);
    }
    out.push(' ');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        escape(&mut out, k, &[',', '=', ' ']);
        out.push('=');
        match v {
            Field::Int(n) => {
                let _ = write!(out, "{n}i");
            }
            Field::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Field::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Field::Str(s) => {
                out.push('"');
                escape(&mut out, s, &['"', '\\']);
                out.push('"');
            }
        }
    }
    let _ = write!(out, " {timestamp_ns}");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_per_influxdb_rules() {
        let l = point(
            "my measurement,x",
            &[("tag key", "a=b,c d".into()), ("a", "1".into())],
            &[
                ("traffic light", Field::Int(2)),
                ("s", Field::Str("say \"hi\" \\o/".into())),
                ("f", Field::Float(0.5)),
                ("b", Field::Bool(true)),
            ],
            7,
        )
        .expect("point");
        assert_eq!(
            l,
            r#"my\ measurement\,x,a=1,tag\ key=a\=b\,c\ d traffic\ light=2i,s="say \"hi\" \\o/",f=0.5,b=true 7"#
        );
    }

    #[test]
    fn no_fields_is_no_point_and_empty_tags_are_skipped() {
        assert_eq!(point("m", &[], &[], 1), None);
        assert_eq!(
            point("m", &[("t", String::new())], &[("f", Field::Int(1))], 1).as_deref(),
            Some("m f=1i 1")
        );
    }
}
