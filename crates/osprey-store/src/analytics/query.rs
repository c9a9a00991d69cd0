//! The read side: SQL over the raw events and the per-second occupancy aggregates.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use super::{
    AlertRow, AnalyticsRecord, Crossing, Direction, EventKind, LabelCrossings, OccupancyBucket,
    OccupancyStat, RoiKind, RoiTransition, TotalsSnapshot, TripwireBucket,
};
use crate::Buckets;

/// Crossings grouped by bucket, tripwire, label and direction, both raw (`actual`) and per
/// object (`effective`: the sign of an object's INs minus OUTs within its bucket).
const CROSSING_GROUPS: &str = "
    SELECT 0, (ts_ms - ?5) / ?6 AS b, rule_id, label, dir, count(*) FROM crossings
     WHERE camera = ?1 AND (?2 IS NULL OR rule_id = ?2) AND ts_ms >= ?3 AND ts_ms < ?4
     GROUP BY b, rule_id, label, dir
    UNION ALL
    SELECT 1, b, rule_id, label, net > 0, count(*) FROM (
        SELECT (ts_ms - ?5) / ?6 AS b, rule_id, label, object_id,
               sum(CASE dir WHEN 1 THEN 1 ELSE -1 END) AS net
          FROM crossings
         WHERE camera = ?1 AND (?2 IS NULL OR rule_id = ?2) AND ts_ms >= ?3 AND ts_ms < ?4
         GROUP BY b, rule_id, object_id, label)
     WHERE net != 0
     GROUP BY b, rule_id, label, net > 0";

/// One row of [`CROSSING_GROUPS`].
struct Group {
    effective: bool,
    bucket: usize,
    rule_id: String,
    label: String,
    direction: Direction,
    n: u64,
}

/// Which labels a query reports: the requested ones (zeros included), else those seen.
fn wanted(labels: Option<&[String]>, label: &str) -> bool {
    labels.is_none_or(|l| l.iter().any(|x| x == label))
}

fn zero_labels<V: Default>(labels: Option<&[String]>) -> BTreeMap<String, V> {
    labels
        .unwrap_or_default()
        .iter()
        .map(|l| (l.clone(), V::default()))
        .collect()
}

fn crossing_groups(
    c: &Connection,
    camera: &str,
    tripwire: Option<&str>,
    b: &Buckets,
) -> rusqlite::Result<Vec<Group>> {
    let mut stmt = c.prepare_cached(CROSSING_GROUPS)?;
    let rows = stmt.query_map(
        params![camera, tripwire, b.from_ms, b.to_ms, b.origin_ms, b.size_ms],
        |r| {
            Ok(Group {
                effective: r.get::<_, i64>(0)? == 1,
                bucket: r.get::<_, i64>(1)? as usize,
                rule_id: r.get(2)?,
                label: r.get(3)?,
                direction: if r.get::<_, i64>(4)? == 1 {
                    Direction::In
                } else {
                    Direction::Out
                },
                n: r.get::<_, i64>(5)? as u64,
            })
        },
    )?;
    rows.collect()
}

fn add(into: &mut LabelCrossings, g: &Group) {
    let e = into.entry(g.label.clone()).or_default();
    if g.effective {
        e.effective.add(g.direction, g.n);
    } else {
        e.actual.add(g.direction, g.n);
    }
}

/// Counts per tripwire over the whole range (`b` must be a single bucket).
pub(crate) fn tripwire_counts(
    c: &Connection,
    camera: &str,
    tripwire: Option<&str>,
    whole: &Buckets,
    labels: Option<&[String]>,
) -> rusqlite::Result<BTreeMap<String, LabelCrossings>> {
    let mut out: BTreeMap<String, LabelCrossings> = BTreeMap::new();
    if let Some(t) = tripwire {
        out.insert(t.to_owned(), zero_labels(labels));
    }
    for g in crossing_groups(c, camera, tripwire, whole)? {
        if wanted(labels, &g.label) {
            let per = out
                .entry(g.rule_id.clone())
                .or_insert_with(|| zero_labels(labels));
            add(per, &g);
        }
    }
    Ok(out)
}

/// Counts of one tripwire per bucket (every bucket present).
pub(crate) fn tripwire_histogram(
    c: &Connection,
    camera: &str,
    tripwire: &str,
    b: &Buckets,
    labels: Option<&[String]>,
) -> rusqlite::Result<Vec<TripwireBucket>> {
    let groups = crossing_groups(c, camera, Some(tripwire), b)?;
    // Without a filter, every bucket lists every label seen in the range.
    let mut seen: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    seen.sort_unstable();
    seen.dedup();
    let labels = labels.unwrap_or(&seen);
    let mut out: Vec<TripwireBucket> = b
        .ranges()
        .into_iter()
        .map(|(start_ms, end_ms)| TripwireBucket {
            start_ms,
            end_ms,
            by_label: zero_labels(Some(labels)),
        })
        .collect();
    for g in &groups {
        if let Some(bucket) = out
            .get_mut(g.bucket)
            .filter(|_| wanted(Some(labels), &g.label))
        {
            add(&mut bucket.by_label, g);
        }
    }
    Ok(out)
}

/// Rounded mean, half away from zero (counts are never negative).
pub(crate) fn rounded_mean(sum: u64, frames: u64) -> u64 {
    if frames == 0 {
        0
    } else {
        (2 * sum + frames) / (2 * frames)
    }
}

/// Occupancy of one rule per bucket, from the per-second aggregates: a second belongs to the
/// bucket holding its start (or the range start, for the second the range starts in).
pub(crate) fn occupancy_histogram(
    c: &Connection,
    camera: &str,
    rule: &str,
    b: &Buckets,
    labels: Option<&[String]>,
) -> rusqlite::Result<Vec<OccupancyBucket>> {
    // The seconds overlapping the range, as bounds the primary key can seek on.
    let (first_sec, last_sec) = (b.from_ms.div_euclid(1000), (b.to_ms - 1).div_euclid(1000));
    let args = params![
        camera,
        rule,
        b.from_ms,
        first_sec,
        b.origin_ms,
        b.size_ms,
        last_sec
    ];
    let mut stmt = c.prepare_cached(
        "SELECT (max(sec * 1000, ?3) - ?5) / ?6 AS b, sum(frames), sum(total_sum), max(total_max)
           FROM occupancy_frames
          WHERE camera = ?1 AND rule_id = ?2 AND sec >= ?4 AND sec <= ?7
          GROUP BY b",
    )?;
    let frames = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, i64>(0)? as usize,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = c.prepare_cached(
        "SELECT (max(sec * 1000, ?3) - ?5) / ?6 AS b, label, sum(count_sum), max(count_max)
           FROM occupancy_counts
          WHERE camera = ?1 AND rule_id = ?2 AND sec >= ?4 AND sec <= ?7
          GROUP BY b, label",
    )?;
    let counts = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, i64>(0)? as usize,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut seen: Vec<String> = counts.iter().map(|x| x.1.clone()).collect();
    seen.sort_unstable();
    seen.dedup();
    let labels = labels.unwrap_or(&seen);
    let mut out: Vec<OccupancyBucket> = b
        .ranges()
        .into_iter()
        .map(|(start_ms, end_ms)| OccupancyBucket {
            start_ms,
            end_ms,
            frames: 0,
            total: OccupancyStat::default(),
            by_label: zero_labels(Some(labels)),
        })
        .collect();
    let mut sums: Vec<(u64, BTreeMap<String, u64>)> = vec![(0, BTreeMap::new()); out.len()];
    for (i, n, sum, max) in frames {
        if let Some(o) = out.get_mut(i) {
            o.frames = n;
            o.total = OccupancyStat {
                average: rounded_mean(sum, n),
                max,
            };
            sums[i].0 = n;
        }
    }
    for (i, label, sum, max) in counts {
        if let Some(stat) = out.get_mut(i).and_then(|o| o.by_label.get_mut(&label)) {
            stat.max = max;
            stat.average = rounded_mean(sum, sums[i].0);
        }
    }
    Ok(out)
}

/// Raw events of a camera in `[from_ms, to_ms)`, newest first.
pub(crate) fn events(
    c: &Connection,
    kind: EventKind,
    camera: &str,
    rule: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<AnalyticsRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    match kind {
        EventKind::Tripwire => {
            let mut stmt = c.prepare_cached(
                "SELECT camera, rule_id, ts_ms, object_id, track_id, label, dir FROM crossings
                  WHERE camera = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (?5 IS NULL OR rule_id = ?5)
                  ORDER BY ts_ms DESC, id DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![camera, from_ms, to_ms, limit, rule], |r| {
                Ok(AnalyticsRecord::Crossing(Crossing {
                    camera: r.get(0)?,
                    rule_id: r.get(1)?,
                    ts_ms: r.get(2)?,
                    object_id: r.get::<_, i64>(3)? as u64,
                    track_id: r.get::<_, i64>(4)? as u64,
                    label: r.get(5)?,
                    direction: if r.get::<_, i64>(6)? == 1 {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                }))
            })?;
            rows.collect()
        }
        EventKind::Roi => {
            let mut stmt = c.prepare_cached(
                "SELECT camera, rule_id, ts_ms, object_id, track_id, label, kind, dwell_s
                   FROM roi_transitions
                  WHERE camera = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (?5 IS NULL OR rule_id = ?5)
                  ORDER BY ts_ms DESC, id DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![camera, from_ms, to_ms, limit, rule], |r| {
                Ok(AnalyticsRecord::Roi(RoiTransition {
                    camera: r.get(0)?,
                    rule_id: r.get(1)?,
                    ts_ms: r.get(2)?,
                    object_id: r.get::<_, i64>(3)? as u64,
                    track_id: r.get::<_, i64>(4)? as u64,
                    label: r.get(5)?,
                    kind: RoiKind::from_code(r.get(6)?),
                    dwell_s: r.get(7)?,
                }))
            })?;
            rows.collect()
        }
    }
}

/// The camera's last totals snapshot.
pub(crate) fn load_totals(
    c: &Connection,
    camera: &str,
) -> rusqlite::Result<Option<TotalsSnapshot>> {
    let mut stmt = c.prepare_cached("SELECT ts_ms, json FROM totals WHERE camera = ?1")?;
    let mut rows = stmt.query([camera])?;
    match rows.next()? {
        Some(r) => Ok(Some(TotalsSnapshot {
            camera: camera.to_owned(),
            ts_ms: r.get(0)?,
            json: r.get(1)?,
        })),
        None => Ok(None),
    }
}

/// Alerts of a camera (of one kind or all, of one rule or all) active at some time in `[from_ms, to_ms)`, newest
/// first, at most `limit`.
pub(crate) fn alerts(
    c: &Connection,
    camera: &str,
    kind: Option<&str>,
    rule: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<AlertRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = c.prepare_cached(
        "SELECT id, camera, kind, rule_id, start_ms, end_ms, json FROM alerts
          WHERE camera = ?1 AND (?2 IS NULL OR kind = ?2) AND start_ms < ?4
            AND (end_ms IS NULL OR end_ms >= ?3) AND (?6 IS NULL OR rule_id = ?6)
          ORDER BY start_ms DESC, id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(params![camera, kind, from_ms, to_ms, limit, rule], |r| {
        Ok(AlertRow {
            id: r.get(0)?,
            camera: r.get(1)?,
            kind: r.get(2)?,
            rule_id: r.get(3)?,
            start_ms: r.get(4)?,
            end_ms: r.get(5)?,
            json: r.get(6)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::rounded_mean;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(rounded_mean(0, 0), 0);
        assert_eq!(rounded_mean(5, 2), 3); // 2.5
        assert_eq!(rounded_mean(7, 2), 4); // 3.5
        assert_eq!(rounded_mean(4, 3), 1); // 1.33
        assert_eq!(rounded_mean(5, 3), 2); // 1.67
        assert_eq!(rounded_mean(1, 2), 1); // 0.5
        assert_eq!(rounded_mean(1, 3), 0); // 0.33
    }
}
