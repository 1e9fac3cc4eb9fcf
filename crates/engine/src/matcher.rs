//! `wait_for_event`'s match: a JSON subset of the event's payload.

use serde_json::Value;

/// True when every field of `pattern` is present in `value` with an equal value; objects are
/// compared field by field, recursively, anything else by equality. `null` or `{}` match all.
pub fn json_contains(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (_, Value::Null) => true,
        (Value::Object(v), Value::Object(p)) => p.iter().all(|(k, pv)| match v.get(k) {
            Some(vv) if pv.is_null() => vv.is_null(),
            Some(vv) => json_contains(vv, pv),
            None => false,
        }),
        (v, p) => v == p,
    }
}

#[cfg(test)]
mod tests {
    use super::json_contains;
    use serde_json::json;

    #[test]
    fn subsets_match() {
        let v = json!({"order": 7, "user": {"id": "u1", "plan": "pro"}, "tags": ["a"]});
        assert!(json_contains(&v, &json!({})));
        assert!(json_contains(&v, &json!(null)));
        assert!(json_contains(&v, &json!({"order": 7})));
        assert!(json_contains(&v, &json!({"user": {"id": "u1"}})));
        assert!(json_contains(&v, &json!({"tags": ["a"]})));
        assert!(!json_contains(&v, &json!({"order": 8})));
        assert!(!json_contains(&v, &json!({"user": {"id": "u2"}})));
        assert!(!json_contains(&v, &json!({"missing": 1})));
        assert!(!json_contains(&v, &json!({"missing": null})));
    }
}
