//! The wizard envelope `{code, data, done, uuid, workflow}`, decoded in one place for
//! every client wizard.

use serde::de::DeserializeOwned;

use crate::error::{describe_serde_error, Error};
use crate::wire::Envelope;

/// Decodes a 2xx wizard body and checks what every wizard response must satisfy: valid
/// JSON of the envelope's shape, a `code` (when present) equal to the HTTP status, and,
/// once a flow has its `uuid`, that same `uuid`.
pub(crate) fn decode<'a>(
    step: &'static str,
    status: u16,
    body: &'a [u8],
    flow_uuid: Option<&str>,
) -> Result<Envelope<'a>, Error> {
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
pub(crate) fn data<T: DeserializeOwned + Default>(
    step: &'static str,
    envelope: &Envelope<'_>,
) -> Result<T, Error> {
    match envelope.data {
        None => Ok(T::default()),
        Some(raw) if raw.get() == "null" => Ok(T::default()),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| Error::malformed(step, "data", describe_serde_error(&e))),
    }
}

/// `data` as free JSON, for outcomes the crate does not model (unknown workflows).
pub(crate) fn raw_data(envelope: &Envelope<'_>) -> serde_json::Value {
    envelope
        .data
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: &str = "GET /test";

    #[test]
    fn decodes_the_sign_in_wizard_example() {
        let body = br#"{"code":200,"data":{"recaptcha":{"enabled":false}},"done":false,"uuid":"u-1","workflow":"login","extra":1}"#;
        let env = decode(STEP, 200, body, None).unwrap();
        assert_eq!(
            (env.code, env.done, env.uuid.as_str(), env.workflow.as_str()),
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
            let env = decode(STEP, 200, body, Some("u")).unwrap();
            let d: crate::wire::SignInData = data(STEP, &env).unwrap();
            assert!(d.access_token.is_none() && d.tfa_providers.is_empty());
            assert_eq!(raw_data(&env), serde_json::Value::Null);
        }
    }

    #[test]
    fn names_what_is_wrong() {
        let field = |status, body: &[u8], uuid| match decode(STEP, status, body, uuid) {
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
        let env = decode(
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
