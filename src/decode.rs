//! Every response body is decoded here: the wizard envelope `{code, data, done, uuid,
//! workflow}` of the client wizards, its `data`, and the bare JSON answers of the Back
//! Office and refresh endpoints. Errors name the field and never quote a value.
//!
//! Reading a body is one pass where it can be: [`wizard`] reads the envelope and every
//! modelled field of `data` together, and [`once`] reads any body as one object. When that
//! pass fails (a wrong type, a duplicate key, an array, bad JSON...), the exact path below
//! it reads the body again and decides, so answers and errors are those of the exact path.
//! This holds because a one-pass read accepts only what the exact path accepts and reads
//! the same values: the same field types, objects only, unknown keys ignored alike.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{describe_serde_error, Error};
use crate::wire::{Envelope, WizardData};

/// A JSON object read as `T`. serde's derives also read a struct from an array of its
/// fields in order; a one-pass read refuses that (and so falls back to the exact path).
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Object(PhantomData))
            .map(ObjectOnly)
    }
}

/// A body read in one pass as a JSON object of type `T`, or `None` when that fails: the
/// caller then reads it by its exact path, which names what is wrong.
pub(crate) fn once<'a, T: Deserialize<'a>>(body: &'a str) -> Option<T> {
    serde_json::from_str::<ObjectOnly<T>>(body)
        .ok()
        .map(|object| object.0)
}

/// A 2xx wizard answer, checked as [`envelope`] checks it.
#[derive(Debug)]
pub(crate) struct Wizard<'a> {
    pub done: bool,
    pub uuid: Cow<'a, str>,
    pub workflow: Cow<'a, str>,
    pub data: Data<'a>,
}

/// `data` of a wizard answer. It lives on the stack for one answer; boxing the large
/// variant would cost an allocation per answer.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Data<'a> {
    /// Read with the envelope (`None`: `null` or absent). The body is kept for the rare
    /// unmodelled workflow, whose `data` is then read again as free JSON.
    Read(Option<WizardData<'a>>, &'a str),
    /// The one pass failed: the text of `data`, for the step's own struct to read.
    Raw(Option<&'a RawValue>),
}

impl<'a> Data<'a> {
    /// `data` as the step's struct; `null` or absent gives the struct's default.
    pub(crate) fn read<T>(self, step: &'static str) -> Result<T, Error>
    where
        T: Deserialize<'a> + Default + From<WizardData<'a>>,
    {
        match self {
            Self::Read(data, _) => Ok(data.map(T::from).unwrap_or_default()),
            Self::Raw(raw) => data(step, raw),
        }
    }

    /// `data` as free JSON, for outcomes the crate does not model (unknown workflows).
    pub(crate) fn free(self, step: &'static str) -> Result<serde_json::Value, Error> {
        match self {
            Self::Read(_, body) => raw_data(step, envelope_text(step, body)?.data),
            Self::Raw(raw) => raw_data(step, raw),
        }
    }
}

/// Decodes a 2xx wizard body as [`envelope`] does, reading `data` in the same pass when it
/// can (see the top of this file).
pub(crate) fn wizard<'a>(
    step: &'static str,
    status: u16,
    body: &'a str,
    flow_uuid: Option<&str>,
) -> Result<Wizard<'a>, Error> {
    if let Some(envelope) = once::<Envelope<'a, ObjectOnly<WizardData<'a>>>>(body) {
        check(step, status, &envelope, flow_uuid)?;
        return Ok(Wizard {
            done: envelope.done,
            uuid: envelope.uuid,
            workflow: envelope.workflow,
            data: Data::Read(envelope.data.map(|data| data.0), body),
        });
    }
    let envelope = envelope(step, status, body, flow_uuid)?;
    Ok(Wizard {
        done: envelope.done,
        uuid: envelope.uuid,
        workflow: envelope.workflow,
        data: Data::Raw(envelope.data),
    })
}

/// `data` read as `T` by the one-pass read and by the exact path: what the test below
/// and the `decode_envelope` fuzz target hold equal.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read_both_ways<'a, T>(
    step: &'static str,
    status: u16,
    body: &'a str,
    flow_uuid: Option<&str>,
) -> [Result<T, Error>; 2]
where
    T: Deserialize<'a> + Default + From<WizardData<'a>>,
{
    [
        wizard(step, status, body, flow_uuid).and_then(|w| w.data.read(step)),
        envelope(step, status, body, flow_uuid).and_then(|e| data(step, e.data)),
    ]
}

/// `data` as free JSON by the one-pass read and by the exact path (see [`read_both_ways`]).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn free_both_ways(
    step: &'static str,
    status: u16,
    body: &str,
    flow_uuid: Option<&str>,
) -> [Result<serde_json::Value, Error>; 2] {
    [
        wizard(step, status, body, flow_uuid).and_then(|w| w.data.free(step)),
        envelope(step, status, body, flow_uuid).and_then(|e| raw_data(step, e.data)),
    ]
}

/// The envelope of a body already read once, with `data` as text.
fn envelope_text<'a>(step: &'static str, body: &'a str) -> Result<Envelope<'a>, Error> {
    object(step, "body", body)?;
    serde_json::from_str(body).map_err(|e| Error::malformed(step, "body", describe_serde_error(&e)))
}

/// Decodes a 2xx wizard body and checks what every wizard response must satisfy: valid
/// JSON of the envelope's shape, a `code` (when present) equal to the HTTP status, and,
/// once a flow has its `uuid`, that same `uuid`.
pub(crate) fn envelope<'a>(
    step: &'static str,
    status: u16,
    body: &'a str,
    flow_uuid: Option<&str>,
) -> Result<Envelope<'a>, Error> {
    let envelope = envelope_text(step, body)?;
    check(step, status, &envelope, flow_uuid)?;
    Ok(envelope)
}

fn check<D>(
    step: &'static str,
    status: u16,
    envelope: &Envelope<'_, D>,
    flow_uuid: Option<&str>,
) -> Result<(), Error> {
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
    Ok(())
}

/// Decodes `data` into the step's type; `null` or absent gives the type's default.
pub(crate) fn data<'a, T: Deserialize<'a> + Default>(
    step: &'static str,
    data: Option<&'a RawValue>,
) -> Result<T, Error> {
    // serde reads `"data": null` into `None` already.
    match data {
        None => Ok(T::default()),
        Some(raw) => {
            object(step, "data", raw.get())?;
            serde_json::from_str(raw.get())
                .map_err(|e| Error::malformed(step, "data", describe_serde_error(&e)))
        }
    }
}

/// A bare JSON answer (no envelope).
pub(crate) fn bare<'a, T: Deserialize<'a>>(step: &'static str, body: &'a str) -> Result<T, Error> {
    object(step, "body", body)?;
    serde_json::from_str(body).map_err(|e| Error::malformed(step, "body", describe_serde_error(&e)))
}

/// Every documented body (and every `data` of a modelled step) is a JSON object. serde's
/// derives would also read a struct from a JSON array of its fields in order (so
/// `[200,{},false,"u","login"]` would pass for an envelope): that is refused here.
fn object(step: &'static str, field: &'static str, json: &str) -> Result<(), Error> {
    match json.bytes().find(|b| !b.is_ascii_whitespace()) {
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
    data: Option<&RawValue>,
) -> Result<serde_json::Value, Error> {
    let Some(raw) = data else {
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
        let body = r#"{"code":200,"data":{"recaptcha":{"enabled":false}},"done":false,"uuid":"u-1","workflow":"login","extra":1}"#;
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
            r#"{"code":200,"data":null,"done":false,"uuid":"u","workflow":"w"}"#,
            r#"{"uuid":"u","workflow":"w"}"#,
        ] {
            let env = envelope(STEP, 200, body, Some("u")).unwrap();
            let d: crate::wire::SignInData = data(STEP, env.data).unwrap();
            assert!(d.access_token.is_none() && d.tfa_providers.is_empty());
            assert_eq!(raw_data(STEP, env.data), Ok(serde_json::Value::Null));
        }
    }

    #[test]
    fn free_data_nests_only_so_deep() {
        // Arrays, objects, and the two mixed: each wrapping is one level.
        fn array(_: usize, inner: String) -> String {
            format!("[{inner}]")
        }
        fn object(_: usize, inner: String) -> String {
            format!(r#"{{"a":{inner}}}"#)
        }
        fn mixed(level: usize, inner: String) -> String {
            if level % 2 == 0 {
                array(level, inner)
            } else {
                object(level, inner)
            }
        }
        let shapes: [fn(usize, String) -> String; 3] = [array, object, mixed];
        for wrap in shapes {
            let nested = |levels: usize| {
                let data = (0..levels).fold("1".to_owned(), |inner, level| wrap(level, inner));
                format!(r#"{{"uuid":"u","workflow":"w","data":{data}}}"#)
            };
            let ok = nested(MAX_FREE_DATA_DEPTH);
            assert!(raw_data(STEP, envelope(STEP, 200, &ok, None).unwrap().data).is_ok());
            let deep = nested(MAX_FREE_DATA_DEPTH + 1);
            assert!(matches!(
                raw_data(STEP, envelope(STEP, 200, &deep, None).unwrap().data),
                Err(Error::Malformed { field: "data", .. })
            ));
        }
    }

    /// The one-pass read of [`wizard`] gives exactly what the exact path gives (values and
    /// errors, for every step's struct and for free `data`), and is taken for usual bodies.
    #[test]
    fn one_pass_reads_exactly_what_the_exact_path_reads() {
        use crate::wire::{SignInData, SignInWizardData, SignUpData, SignUpWizardData};
        fn both<'a, T>(body: &'a str) -> (String, String)
        where
            T: Deserialize<'a> + Default + From<WizardData<'a>> + std::fmt::Debug,
        {
            let [fast, exact] = read_both_ways::<T>(STEP, 200, body, None);
            (format!("{fast:?}"), format!("{exact:?}"))
        }
        let token = r#"{"token":"t\u0041","createdAt":"c","expiresAt":"e"}"#;
        let datas = [
            String::from("null"),
            String::from("{}"),
            String::from("[]"),
            String::from("[{\"enabled\":true}]"),
            String::from("[null,null,null,null,null,[],null]"),
            String::from("7"),
            String::from(r#"{"recaptcha":{"enabled":true},"is_qr_available":false,"x":[1,{}]}"#),
            String::from(r#"{"recaptcha":{"enabled":true},"tfaProviders":"bad"}"#),
            String::from(
                r#"{"tfaProviders":[{"name":"google","enabled":true}],"accessToken":null}"#,
            ),
            format!(r#"{{"accessToken":{token},"refreshToken":{token},"tfaProviders":[]}}"#),
            format!(r#"{{"accessToken":{token},"refreshToken":5}}"#),
            format!(r#"{{"accessToken":{token},"accessToken":{token}}}"#),
            String::from(r#"{"fields":{"a":[1,2.5,"x"]},"recaptcha":null}"#),
            String::from(r#"{"fields":1e999}"#),
            String::from(r#"{"is_qr_available":"yes"}"#),
        ];
        let mut read_once = 0;
        for data in &datas {
            for body in [
                format!(r#"{{"code":200,"data":{data},"done":false,"uuid":"u","workflow":"w"}}"#),
                format!(r#"{{"workflow":"w","data":{data},"uuid":"u\u0031","extra":{data}}}"#),
                format!(r#"[200,{data},false,"u","w"]"#),
            ] {
                let body = body.as_str();
                let (fast, exact) = both::<SignInWizardData>(body);
                assert_eq!(fast, exact, "{data}");
                let (fast, exact) = both::<SignInData>(body);
                assert_eq!(fast, exact, "{data}");
                let (fast, exact) = both::<SignUpWizardData>(body);
                assert_eq!(fast, exact, "{data}");
                let (fast, exact) = both::<SignUpData>(body);
                assert_eq!(fast, exact, "{data}");
                let [fast, exact] = free_both_ways(STEP, 200, body, None);
                assert_eq!(fast, exact, "{data}");
                if let Ok(Wizard {
                    data: Data::Read(..),
                    ..
                }) = wizard(STEP, 200, body, None)
                {
                    read_once += 1;
                }
            }
        }
        assert_eq!(read_once, 12, "usual bodies are read in one pass");
    }

    #[test]
    fn names_what_is_wrong() {
        let field = |status, body: &str, uuid| match envelope(STEP, status, body, uuid) {
            Err(Error::Malformed { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(200, "{", None), "body");
        assert_eq!(field(200, r#"{"uuid":1,"workflow":"w"}"#, None), "body");
        assert_eq!(
            field(202, r#"{"code":200,"uuid":"u","workflow":"w"}"#, None),
            "code"
        );
        assert_eq!(
            field(200, r#"{"uuid":"other","workflow":"w"}"#, Some("u")),
            "uuid"
        );
        assert_eq!(field(200, r#"{"uuid":"","workflow":"w"}"#, None), "uuid");
        assert_eq!(
            field(200, r#"{"uuid":"u","workflow":""}"#, None),
            "workflow"
        );
        let env = envelope(
            STEP,
            200,
            r#"{"uuid":"u","workflow":"w","data":{"tfaProviders":"secret-ish"}}"#,
            None,
        )
        .unwrap();
        match data::<crate::wire::SignInData>(STEP, env.data) {
            Err(Error::Malformed {
                field: "data",
                reason,
                ..
            }) => assert!(!reason.contains("secret-ish"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
