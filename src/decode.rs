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

use crate::deviation::Answer;
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

/// Whose answer a body is, which says what its `uuid` and `workflow` must be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect<'f> {
    /// The first answer of a wizard: it gives the flow its `uuid`.
    NewWizard,
    /// An answer within the wizard of this `uuid`.
    Wizard(&'f str),
    /// An answer that belongs to no wizard (a refresh): `uuid` and `workflow` may be
    /// anything, `null` or absent.
    NoWizard,
}

/// A 2xx wizard answer, checked as [`envelope`] checks it.
#[derive(Debug)]
pub(crate) struct Wizard<'a> {
    pub code: Option<i64>,
    pub done: Option<bool>,
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
pub(crate) fn wizard<'a>(answer: &mut Answer<'a>, expect: Expect<'_>) -> Result<Wizard<'a>, Error> {
    let body = answer.body;
    if let Some(envelope) = once::<Envelope<'a, ObjectOnly<WizardData<'a>>>>(body) {
        check(answer, &envelope, expect)?;
        return Ok(Wizard {
            code: envelope.code,
            done: envelope.done,
            uuid: envelope.uuid,
            workflow: envelope.workflow,
            data: Data::Read(envelope.data.map(|data| data.0), body),
        });
    }
    let envelope = envelope(answer, expect)?;
    Ok(Wizard {
        code: envelope.code,
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
    expect: Expect<'_>,
) -> [Result<T, Error>; 2]
where
    T: Deserialize<'a> + Default + From<WizardData<'a>>,
{
    let answer = || Answer::new(step, status, body, false);
    [
        wizard(&mut answer(), expect).and_then(|w| w.data.read(step)),
        envelope(&mut answer(), expect).and_then(|e| data(step, e.data)),
    ]
}

/// `data` as free JSON by the one-pass read and by the exact path (see [`read_both_ways`]).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn free_both_ways(
    step: &'static str,
    status: u16,
    body: &str,
    expect: Expect<'_>,
) -> [Result<serde_json::Value, Error>; 2] {
    let answer = || Answer::new(step, status, body, false);
    [
        wizard(&mut answer(), expect).and_then(|w| w.data.free(step)),
        envelope(&mut answer(), expect).and_then(|e| raw_data(step, e.data)),
    ]
}

/// The envelope of a body already read once, with `data` as text.
fn envelope_text<'a>(step: &'static str, body: &'a str) -> Result<Envelope<'a>, Error> {
    object(step, "body", body)?;
    serde_json::from_str(body).map_err(|e| Error::malformed(step, "body", describe_serde_error(&e)))
}

/// Decodes a 2xx wizard body and checks what every wizard response must satisfy: valid
/// JSON of the envelope's shape; a `uuid` for a new wizard, the flow's own `uuid` (or none,
/// a deviation) within one; a `workflow`. A `code` other than the HTTP status is a
/// deviation.
pub(crate) fn envelope<'a>(
    answer: &mut Answer<'a>,
    expect: Expect<'_>,
) -> Result<Envelope<'a>, Error> {
    let envelope = envelope_text(answer.step, answer.body)?;
    check(answer, &envelope, expect)?;
    Ok(envelope)
}

fn check<D>(
    answer: &mut Answer<'_>,
    envelope: &Envelope<'_, D>,
    expect: Expect<'_>,
) -> Result<(), Error> {
    answer.code_against_status(envelope.code);
    let uuid = &*envelope.uuid;
    match expect {
        Expect::NoWizard => return Ok(()),
        Expect::NewWizard if uuid.is_empty() => {
            return Err(answer.malformed("uuid", "is missing: the wizard's next steps need it"));
        }
        Expect::NewWizard => {}
        Expect::Wizard(_) if uuid.is_empty() => answer.deviate(
            "uuid",
            "every wizard answer carries the procedure's uuid",
            "no uuid".to_owned(),
        ),
        Expect::Wizard(own) if uuid != own => {
            return Err(answer.malformed("uuid", "belongs to another flow"));
        }
        Expect::Wizard(_) => {}
    }
    if envelope.workflow.is_empty() {
        return Err(answer.malformed("workflow", "is missing: it names the next step"));
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
pub(crate) fn depth(value: &serde_json::Value) -> usize {
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

    /// The envelope as a lenient flow reads it.
    fn env<'a>(status: u16, body: &'a str, expect: Expect<'_>) -> Result<Envelope<'a>, Error> {
        envelope(&mut Answer::new(STEP, status, body, false), expect)
    }

    #[test]
    fn decodes_the_sign_in_wizard_example() {
        let body = r#"{"code":200,"data":{"recaptcha":{"enabled":false}},"done":false,"uuid":"u-1","workflow":"login","extra":1}"#;
        let env = env(200, body, Expect::NewWizard).unwrap();
        assert_eq!(
            (env.code, env.done, &*env.uuid, &*env.workflow),
            (Some(200), Some(false), "u-1", "login")
        );
        assert!(env.data.is_some());
    }

    #[test]
    fn data_may_be_null_or_absent() {
        for body in [
            r#"{"code":200,"data":null,"done":false,"uuid":"u","workflow":"w"}"#,
            r#"{"uuid":"u","workflow":"w"}"#,
        ] {
            let env = env(200, body, Expect::Wizard("u")).unwrap();
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
            assert!(raw_data(STEP, env(200, &ok, Expect::NewWizard).unwrap().data).is_ok());
            let deep = nested(MAX_FREE_DATA_DEPTH + 1);
            assert!(matches!(
                raw_data(STEP, env(200, &deep, Expect::NewWizard).unwrap().data),
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
            let [fast, exact] = read_both_ways::<T>(STEP, 200, body, Expect::NewWizard);
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
                let [fast, exact] = free_both_ways(STEP, 200, body, Expect::NewWizard);
                assert_eq!(fast, exact, "{data}");
                if let Ok(Wizard {
                    data: Data::Read(..),
                    ..
                }) = wizard(&mut Answer::new(STEP, 200, body, false), Expect::NewWizard)
                {
                    read_once += 1;
                }
            }
        }
        assert_eq!(read_once, 12, "usual bodies are read in one pass");
    }

    #[test]
    fn names_what_is_wrong() {
        let field = |status, body: &str, expect| match env(status, body, expect) {
            Err(Error::Malformed { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let new = Expect::NewWizard;
        assert_eq!(field(200, "{", new), "body");
        assert_eq!(field(200, r#"{"uuid":1,"workflow":"w"}"#, new), "body");
        assert_eq!(
            field(
                200,
                r#"{"uuid":"other","workflow":"w"}"#,
                Expect::Wizard("u")
            ),
            "uuid"
        );
        for no_uuid in [r#""uuid":"","#, r#""uuid":null,"#, ""] {
            let body = format!(r#"{{{no_uuid}"workflow":"w"}}"#);
            assert_eq!(field(200, &body, new), "uuid", "{body}");
        }
        for no_workflow in [r#","workflow":"""#, r#","workflow":null"#, ""] {
            let body = format!(r#"{{"uuid":"u"{no_workflow}}}"#);
            assert_eq!(field(200, &body, new), "workflow", "{body}");
            assert!(env(200, &body, Expect::NoWizard).is_ok(), "{body}");
        }
        let env = env(
            200,
            r#"{"uuid":"u","workflow":"w","data":{"tfaProviders":"secret-ish"}}"#,
            new,
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

    /// What the pages leave open is noted (or, strict, refused); what they decide is not.
    #[test]
    fn notes_what_departs_and_refuses_it_when_strict() {
        let body = r#"{"code":200,"done":null,"workflow":"w"}"#;
        let mut answer = Answer::new(STEP, 202, body, false);
        let read = envelope(&mut answer, Expect::Wizard("u")).unwrap();
        assert_eq!((read.code, read.done, &*read.uuid), (Some(200), None, ""));
        let fields: Vec<String> = answer
            .finish()
            .unwrap()
            .iter()
            .map(|d| d.field().to_owned())
            .collect();
        assert_eq!(fields, ["code", "uuid"]);

        for (status, body, field) in [
            (202, r#"{"code":200,"uuid":"u","workflow":"w"}"#, "code"),
            (200, r#"{"workflow":"w"}"#, "uuid"),
        ] {
            let mut strict = Answer::new(STEP, status, body, true);
            assert!(envelope(&mut strict, Expect::Wizard("u")).is_ok(), "{body}");
            assert!(
                matches!(strict.finish(), Err(Error::Malformed { field: f, .. }) if f == field),
                "{body}"
            );
        }
        // Nothing to note: the status repeats `code`, or there is no `code`.
        for body in [
            r#"{"code":202,"uuid":"u","workflow":"w"}"#,
            r#"{"uuid":"u","workflow":"w","extra":{"a":1}}"#,
        ] {
            let mut strict = Answer::new(STEP, 202, body, true);
            assert!(envelope(&mut strict, Expect::Wizard("u")).is_ok(), "{body}");
            assert_eq!(strict.finish(), Ok(vec![]));
        }
    }
}
