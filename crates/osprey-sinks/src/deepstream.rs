//! NVIDIA DeepStream's "minimal schema" (version 4.0) for one processed frame: the Redis entry.

use osprey_schema::FrameResult;
use serde_json::json;

/// The minimal-schema JSON of `frame`: `{"version":"4.0","id":<frame>,"@timestamp":…,
/// "sensorId":…,"objects":["<track>|x1|y1|x2|y2|<label>|#|<score>",…]}`.
pub fn minimal_schema(frame: &FrameResult) -> String {
    let objects: Vec<String> = frame
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}|{:.1}|{:.1}|{:.1}|{:.1}|{}|#|{:.3}",
                o.track_id, o.bbox[0], o.bbox[1], o.bbox[2], o.bbox[3], o.label, o.confidence
            )
        })
        .collect();
    json!({
        "version": "4.0",
        "id": frame.seq,
        "@timestamp": osprey_base::rfc3339(frame.wall),
        "sensorId": frame.camera,
        "objects": objects,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_schema::TrackedObject;

    #[test]
    fn minimal_schema_matches_deepstream() {
        let s = minimal_schema(&FrameResult {
            camera: "front".into(),
            seq: 7,
            frame: 0,
            pts: 0.7,
            wall: 1_795_340_418.871,
            width: 640,
            height: 480,
            objects: vec![TrackedObject {
                track_id: 3,
                class_id: 0,
                label: "person".into(),
                bbox: [10.0, 20.25, 30.0, 40.0],
                confidence: 0.8765,
                matched: true,
            }],
            ended: vec![],
        });
        let v: serde_json::Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["version"], "4.0");
        assert_eq!(v["id"], 7);
        assert_eq!(v["@timestamp"], "2026-11-22T09:40:18.871Z");
        assert_eq!(v["sensorId"], "front");
        assert_eq!(v["objects"][0], "3|10.0|20.2|30.0|40.0|person|#|0.877");
    }
}
