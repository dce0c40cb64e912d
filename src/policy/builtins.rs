//! Extensions registered in every policy engine. `numbers.range` and
//! `numbers.range_step` are bounded: OPA builds any range asked for, but one
//! call with a huge range cannot be interrupted by the time limit and would
//! exhaust memory, so ranges over a million elements are an error here.

use regorus::Value;

pub const MAX_RANGE_ELEMENTS: i64 = 1_000_000;

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if n.is_integer() => n.as_i64(),
        _ => None,
    }
}

fn range(from: i64, to: i64, step: i64) -> anyhow::Result<Value> {
    let count = (to - from).unsigned_abs() / step.unsigned_abs() + 1;
    if count > MAX_RANGE_ELEMENTS as u64 {
        anyhow::bail!(
            "numbers.range: {count} elements requested; more than {MAX_RANGE_ELEMENTS} is refused"
        );
    }
    let step = if to >= from { step } else { -step };
    let mut out = Vec::with_capacity(count as usize);
    let mut v = from;
    for _ in 0..count {
        out.push(Value::from(v));
        v += step;
    }
    Ok(Value::from(out))
}

pub fn register(engine: &mut regorus::Engine) -> anyhow::Result<()> {
    engine.add_extension(
        "numbers.range".into(),
        2,
        Box::new(|args: Vec<Value>| -> anyhow::Result<Value> {
            // Non-integers are a builtin error in OPA: undefined, as builtin errors are here.
            match (args.first().and_then(int), args.get(1).and_then(int)) {
                (Some(a), Some(b)) => range(a, b, 1),
                _ => Ok(Value::Undefined),
            }
        }),
    )?;
    engine.add_extension(
        "numbers.range_step".into(),
        3,
        Box::new(|args: Vec<Value>| -> anyhow::Result<Value> {
            match (
                args.first().and_then(int),
                args.get(1).and_then(int),
                args.get(2).and_then(int),
            ) {
                (Some(a), Some(b), Some(s)) if s > 0 => {
                    let last = a + (b - a) / s * s;
                    range(a, last, s)
                }
                _ => Ok(Value::Undefined),
            }
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(rego: &str) -> anyhow::Result<Value> {
        let mut e = regorus::Engine::new();
        register(&mut e)?;
        e.add_policy("t.rego".into(), format!("package t\n{rego}\n"))?;
        e.eval_rule("data.t.x".into())
    }

    #[test]
    fn ranges_match_opa_and_are_bounded() {
        assert_eq!(
            eval("x := numbers.range(1, 3)").unwrap().to_string(),
            "[1,2,3]"
        );
        assert_eq!(
            eval("x := numbers.range(3, 1)").unwrap().to_string(),
            "[3,2,1]"
        );
        assert_eq!(
            eval("x := numbers.range_step(0, 10, 4)")
                .unwrap()
                .to_string(),
            "[0,4,8]"
        );
        assert_eq!(
            eval("x := numbers.range_step(10, 0, 4)")
                .unwrap()
                .to_string(),
            "[10,6,2]"
        );
        let err = eval("x := numbers.range(1, 100000000)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 1000000"), "{err}");
    }
}
