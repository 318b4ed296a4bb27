//! Every response body is decoded here: the wizard envelope `{code, data, done, uuid,
//! workflow}` of the client wizards, its `data`, and the bare JSON answers of the Back
//! Office and refresh endpoints. Errors name the field and never quote a value.

use serde::Deserialize;

use crate::error::{describe_serde_error, Error};
use crate::wire::Envelope;

/// Decodes a 2xx wizard body and checks what every wizard response must satisfy: valid
/// JSON of the envelope's shape, a `code` (when present) equal to the HTTP status, and,
/// once a flow has its `uuid`, that same `uuid`.
pub(crate) fn envelope<'a>(
    step: &'static str,
    status: u16,
    body: &'a [u8],
    flow_uuid: Option<&str>,
) -> Result<Envelope<'a>, Error> {
    object(step, "body", body)?;
    let envelope: Envelope<'a> = serde_json::from_slice(body)
        .map_err(|e| Error::malformed(step, "body", describe_serde_error(&e)))?;
    if let Some(code) = envelope.code {
        if code != status {
            return Err(Error::malformed(
                step,
                "code",
                format!("is {code} but the HTTP status is {status}"),
            ));
        }
    }
    if envelope.uuid.is_empty() {
        return Err(Error::malformed(step, "uuid", "is empty"));
    }
    if let Some(expected) = flow_uuid {
        if envelope.uuid != expected {
            return Err(Error::malformed(step, "uuid", "belongs to another flow"));
        }
    }
    if envelope.workflow.is_empty() {
        return Err(Error::malformed(step, "workflow", "is empty"));
    }
    Ok(envelope)
}

/// Decodes `data` into the step's type; `null` or absent gives the type's default.
pub(crate) fn data<'a, T: Deserialize<'a> + Default>(
    step: &'static str,
    envelope: &Envelope<'a>,
) -> Result<T, Error> {
    match envelope.data {
        None => Ok(T::default()),
        Some(raw) if raw.get() == "null" => Ok(T::default()),
        Some(raw) => {
            object(step, "data", raw.get().as_bytes())?;
            serde_json::from_str(raw.get())
                .map_err(|e| Error::malformed(step, "data", describe_serde_error(&e)))
        }
    }
}

/// A bare JSON answer (no envelope).
pub(crate) fn bare<'a, T: Deserialize<'a>>(step: &'static str, body: &'a [u8]) -> Result<T, Error> {
    object(step, "body", body)?;
    serde_json::from_slice(body)
        .map_err(|e| Error::malformed(step, "body", describe_serde_error(&e)))
}

/// Every documented body (and every `data` of a modelled step) is a JSON object. serde's
/// derives would also read a struct from a JSON array of its fields in order (so
/// `[200,{},false,"u","login"]` would pass for an envelope): that is refused here.
fn object(step: &'static str, field: &'static str, json: &[u8]) -> Result<(), Error> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(Error::malformed(step, field, "is not a JSON object")),
    }
}

/// How deep `data` of an unmodelled workflow may nest: the flow keeps it, and a parked flow
/// adds a few levels of its own, which must stay under serde_json's limit of 128.
pub(crate) const MAX_FREE_DATA_DEPTH: usize = 64;

/// `data` as free JSON, for outcomes the crate does not model (unknown workflows).
pub(crate) fn raw_data(
    step: &'static str,
    envelope: &Envelope<'_>,
) -> Result<serde_json::Value, Error> {
    let Some(raw) = envelope.data else {
        return Ok(serde_json::Value::Null);
    };
    let value: serde_json::Value = serde_json::from_str(raw.get())
        .map_err(|e| Error::malformed(step, "data", describe_serde_error(&e)))?;
    if depth(&value) > MAX_FREE_DATA_DEPTH {
        return Err(Error::malformed(
            step,
            "data",
            format!("nests deeper than {MAX_FREE_DATA_DEPTH} levels"),
        ));
    }
    Ok(value)
}

/// Nesting depth of a JSON value (a scalar is 0). serde_json bounds the input at 128.
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: &str = "GET /test";

    #[test]
    fn decodes_the_sign_in_wizard_example() {
        let body = br#"{"code":200,"data":{"recaptcha":{"enabled":false}},"done":false,"uuid":"u-1","workflow":"login","extra":1}"#;
        let env = envelope(STEP, 200, body, None).unwrap();
        assert_eq!(
            (env.code, env.done, &*env.uuid, &*env.workflow),
            (Some(200), false, "u-1", "login")
        );
        assert!(env.data.is_some());
    }

    #[test]
    fn data_may_be_null_or_absent() {
        for body in [
            &br#"{"code":200,"data":null,"done":false,"uuid":"u","workflow":"w"}"#[..],
            br#"{"uuid":"u","workflow":"w"}"#,
        ] {
            let env = envelope(STEP, 200, body, Some("u")).unwrap();
            let d: crate::wire::SignInData = data(STEP, &env).unwrap();
            assert!(d.access_token.is_none() && d.tfa_providers.is_empty());
            assert_eq!(raw_data(STEP, &env), Ok(serde_json::Value::Null));
        }
    }

    #[test]
    fn free_data_nests_only_so_deep() {
        let nested = |n: usize| {
            format!(
                r#"{{"uuid":"u","workflow":"w","data":{}1{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let ok = nested(MAX_FREE_DATA_DEPTH);
        assert!(raw_data(STEP, &envelope(STEP, 200, ok.as_bytes(), None).unwrap()).is_ok());
        let deep = nested(MAX_FREE_DATA_DEPTH + 1);
        assert!(matches!(
            raw_data(STEP, &envelope(STEP, 200, deep.as_bytes(), None).unwrap()),
            Err(Error::Malformed { field: "data", .. })
        ));
    }

    #[test]
    fn names_what_is_wrong() {
        let field = |status, body: &[u8], uuid| match envelope(STEP, status, body, uuid) {
            Err(Error::Malformed { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(200, b"{", None), "body");
        assert_eq!(field(200, br#"{"uuid":1,"workflow":"w"}"#, None), "body");
        assert_eq!(
            field(202, br#"{"code":200,"uuid":"u","workflow":"w"}"#, None),
            "code"
        );
        assert_eq!(
            field(200, br#"{"uuid":"other","workflow":"w"}"#, Some("u")),
            "uuid"
        );
        assert_eq!(field(200, br#"{"uuid":"","workflow":"w"}"#, None), "uuid");
        assert_eq!(
            field(200, br#"{"uuid":"u","workflow":""}"#, None),
            "workflow"
        );
        let env = envelope(
            STEP,
            200,
            br#"{"uuid":"u","workflow":"w","data":{"tfaProviders":"secret-ish"}}"#,
            None,
        )
        .unwrap();
        match data::<crate::wire::SignInData>(STEP, &env) {
            Err(Error::Malformed {
                field: "data",
                reason,
                ..
            }) => assert!(!reason.contains("secret-ish"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
