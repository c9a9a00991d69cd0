//! MOTChallenge text files: `frame,id,bb_left,bb_top,bb_width,bb_height,score[,x,y,z]`, frames
//! 1-based. Detection files carry id -1.

use crate::BBox;

/// One row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Frame number (1-based).
    pub frame: u32,
    /// Object / track id (-1 for detections).
    pub id: i64,
    /// The box.
    pub bbox: BBox,
    /// Column 7: detector score, or the gt "consider" flag.
    pub score: f32,
}

/// A line that is not a MOT row.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}: {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
    /// The line.
    pub text: String,
}

impl osprey_base::Kinded for ParseError {
    fn kind(&self) -> osprey_base::ErrorKind {
        osprey_base::ErrorKind::InvalidArgument
    }
}

/// Parses a MOT file's text (comma- or space-separated; blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<Row>, ParseError> {
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        let err = |reason| ParseError {
            line: i + 1,
            reason,
            text: t.chars().take(120).collect(),
        };
        let f: Vec<&str> = t
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        if f.len() < 6 {
            return Err(err("fewer than 6 columns"));
        }
        let num = |k: usize| -> Result<f64, ParseError> {
            f[k].parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| err("not a number"))
        };
        let frame = num(0)?;
        if frame < 1.0 || frame.fract() != 0.0 || frame > u32::MAX as f64 {
            return Err(err("frame must be a whole number >= 1"));
        }
        let (l, tp, w, h) = (num(2)?, num(3)?, num(4)?, num(5)?);
        rows.push(Row {
            frame: frame as u32,
            id: num(1)? as i64,
            bbox: BBox::from_ltwh(l as f32, tp as f32, w as f32, h as f32),
            score: if f.len() > 6 { num(6)? as f32 } else { 1.0 },
        });
    }
    Ok(rows)
}

/// Ground-truth rows as motmetrics' `min_confidence=1` keeps them (column 7 ≥ 1), up to frame
/// `max_frame`, with boxes multiplied by `scale` (a clip scaled from the annotated sequence).
pub fn ground_truth(rows: Vec<Row>, scale: f32, max_frame: Option<u32>) -> Vec<Row> {
    rows.into_iter()
        .filter(|r| r.score >= 1.0 && max_frame.is_none_or(|m| r.frame <= m))
        .map(|r| Row {
            bbox: BBox {
                x1: r.bbox.x1 * scale,
                y1: r.bbox.y1 * scale,
                x2: r.bbox.x2 * scale,
                y2: r.bbox.y2 * scale,
            },
            ..r
        })
        .collect()
}

/// Formats rows as MOT text (`frame,id,l,t,w,h,score,-1,-1,-1`).
pub fn format(rows: &[Row]) -> String {
    let mut s = String::with_capacity(rows.len() * 48);
    for r in rows {
        s.push_str(&format!(
            "{},{},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1\n",
            r.frame,
            r.id,
            r.bbox.x1,
            r.bbox.y1,
            r.bbox.w(),
            r.bbox.h(),
            r.score
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let rows = parse("1,-1,10,20,30,40,67.5,1,2,0\n\n2 3 1 2 3 4\n").expect("parse");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].bbox, BBox::from_ltwh(10.0, 20.0, 30.0, 40.0));
        assert_eq!(rows[1].score, 1.0);
        let again = parse(&format(&rows)).expect("reparse");
        assert_eq!(again[0].frame, 1);
        assert_eq!(again[1].id, 3);
        assert!(parse("0,1,1,1,1,1").is_err());
        assert!(parse("1,1,1,x,1,1").is_err());
        assert!(parse("1,1,1").is_err());
        assert!(parse("1,1,1,1,1,NaN").is_err());
    }
}
