//! Estimates of the heap memory a parsed value holds, for cache weights.
//!
//! Caches are bounded by these estimates, so they follow how the values are
//! laid out (allocation sizes as glibc rounds them, B-tree nodes, vector
//! capacities) rather than the text's length: a parsed statement takes from
//! 5 to 15 times its JSON size. Checked against a counting allocator on real
//! statements (within about 10%, see docs/performance.md).

use std::mem::size_of;

/// What an allocation of `n` bytes occupies: an 8-byte header, rounded up
/// to 16 bytes, 32 at least (glibc malloc).
pub fn chunk(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (n.saturating_add(8 + 15) & !15).max(32)
}

/// Rust's B-tree nodes hold up to 11 entries; filled in order, a node that
/// splits keeps about 6.
fn btree_nodes(entries: usize, leaf_bytes: usize) -> usize {
    if entries == 0 {
        return 0;
    }
    let leaves = if entries <= 11 {
        1
    } else {
        entries.div_ceil(6)
    };
    let internal = if leaves == 1 { 0 } else { leaves.div_ceil(6) };
    // An internal node adds 12 child pointers.
    leaves * chunk(leaf_bytes) + internal * chunk(leaf_bytes + 12 * size_of::<usize>())
}

/// Heap bytes held by a `serde_json::Value` (beyond the value itself).
pub fn json(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::String(s) => chunk(s.capacity()),
        Value::Array(a) => {
            chunk(a.capacity() * size_of::<Value>()) + a.iter().map(json).sum::<usize>()
        }
        Value::Object(o) => {
            // Leaf: parent pointer, keys, values, index and length.
            let leaf = 8 + 11 * (size_of::<String>() + size_of::<Value>()) + 4;
            btree_nodes(o.len(), leaf)
                + o.iter()
                    .map(|(k, v)| chunk(k.capacity()) + json(v))
                    .sum::<usize>()
        }
        _ => 0,
    }
}

/// Heap bytes held by a `regorus::Value` as built from JSON: reference-
/// counted strings, arrays grown by doubling, objects as sorted slices.
pub fn rego(v: &regorus::Value) -> usize {
    use regorus::Value;
    // Reference counts (strong, weak) precede every shared allocation.
    const RC: usize = 16;
    match v {
        Value::String(s) => chunk(RC + s.len()),
        Value::Array(a) => {
            let capacity = a.len().max(4).next_power_of_two();
            chunk(RC + size_of::<Vec<Value>>())
                + chunk(capacity * size_of::<Value>())
                + a.iter().map(rego).sum::<usize>()
        }
        Value::Set(s) => {
            let leaf = 8 + 11 * size_of::<Value>() + 4;
            chunk(RC + size_of::<std::collections::BTreeSet<Value>>())
                + btree_nodes(s.len(), leaf)
                + s.iter().map(rego).sum::<usize>()
        }
        Value::Object(o) => {
            // The object header (32 bytes), then its entries as one sorted slice.
            chunk(RC + 32)
                + chunk(o.len() * 2 * size_of::<Value>())
                + o.iter().map(|(k, v)| rego(k) + rego(v)).sum::<usize>()
        }
        // Numbers as JSON gives them, booleans and null live inline.
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_sizes_follow_malloc_rounding() {
        assert_eq!(chunk(0), 0);
        assert_eq!(chunk(1), 32);
        assert_eq!(chunk(24), 32);
        assert_eq!(chunk(25), 48);
        assert_eq!(chunk(usize::MAX), usize::MAX & !15);
    }

    #[test]
    fn a_parsed_document_weighs_far_more_than_its_text() {
        let text = r#"{"packages":[{"name":"a","SPDXID":"SPDXRef-1","versionInfo":"1.0"},{"name":"b","SPDXID":"SPDXRef-2","versionInfo":"2.0"}]}"#;
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        // Three objects of one B-tree leaf each (640 bytes) at least.
        assert!(json(&v) >= 3 * 640, "{}", json(&v));
        let r = crate::policy::input::to_value(&v);
        assert!(rego(&r) > 3 * text.len(), "{}", rego(&r));
        assert_eq!(json(&serde_json::Value::Null), 0);
    }
}
