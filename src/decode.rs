//! Every response body is decoded here: the wizard envelope `{code, data, done, uuid,
//! workflow}` of the client wizards, its `data`, and the bare JSON answers of the Back
//! Office and refresh endpoints. Errors name the field and never quote a value.
//!
//! A wizard body has one reading: the envelope with its `data` as the struct of the answer
//! the flow awaits (for a wizard's first answer `F`, for the next ones `N`: see [`wizard`]),
//! in one pass. Each struct is the one definition of its fields. Where it does not serve,
//! `data` is taken as its text and read from that, with the same structs: a workflow whose
//! `data` is another struct or free JSON, and a body the pass refuses, so that an error
//! names what the pages' order finds wrong first (the body, the `uuid`, the `workflow`,
//! then `data`), and a `data` the workflow does not read never fails an answer.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::deviation::Answer;
use crate::error::{describe_serde_error, Error};
use crate::wire::{self, inferred, Envelope};

/// A JSON object read as `T`. serde's derives also read a struct from an array of its
/// fields in order; the bodies and `data` of the pages are objects (see [`object`]).
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
/// caller then reads it as text, which names what is wrong.
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

/// A 2xx wizard answer, checked as [`envelope`] checks it, with `data` as `F` in a
/// wizard's first answer and as `N` in the next ones.
#[derive(Debug)]
pub(crate) struct Wizard<'a, F, N> {
    pub code: Option<i64>,
    pub done: Option<bool>,
    pub uuid: Cow<'a, str>,
    pub workflow: Cow<'a, str>,
    pub data: Data<'a, F, N>,
}

/// A client sign-in answer: the wizard's options first, then the steps' tokens or methods.
pub(crate) type SignInAnswer<'a> = Wizard<'a, wire::SignInWizardData, wire::SignInData<'a>>;

/// A client sign-up answer: the wizard's form first, then the tokens.
pub(crate) type SignUpAnswer<'a> = Wizard<'a, wire::SignUpWizardData, wire::SignUpData<'a>>;

/// `data` of a [`SignUpAnswer`].
pub(crate) type SignUpAnswerData<'a> = Data<'a, wire::SignUpWizardData, wire::SignUpData<'a>>;

/// `data` of a wizard answer, as the pass read it. It lives on the stack for one answer.
#[derive(Debug)]
pub(crate) struct Data<'a, F, N> {
    read: Read<'a, F, N>,
    /// The whole body, to read `data` from again as another struct or as free JSON.
    body: &'a str,
}

#[derive(Debug)]
enum Read<'a, F, N> {
    /// A wizard's first answer, `data` read with the envelope (`None`: `null` or absent).
    First(Option<F>),
    /// Any later answer, `data` read with the envelope.
    Next(Option<N>),
    /// The pass refused the body: the text of `data`, each struct to be read from it.
    Text(Option<&'a RawValue>),
}

impl<'a, F, N> Data<'a, F, N>
where
    F: Deserialize<'a> + Default,
    N: Deserialize<'a> + Default,
{
    /// `data` of a wizard's first answer; `null` or absent gives the struct's default.
    pub(crate) fn first(self, step: &'static str) -> Result<F, Error> {
        match self.read {
            Read::First(data) => Ok(data.unwrap_or_default()),
            _ => data(step, self.text(step)?),
        }
    }

    /// `data` of a later answer; `null` or absent gives the struct's default.
    pub(crate) fn next(self, step: &'static str) -> Result<N, Error> {
        match self.read {
            Read::Next(data) => Ok(data.unwrap_or_default()),
            _ => data(step, self.text(step)?),
        }
    }
}

impl<'a, F, N> Data<'a, F, N> {
    /// `data` as free JSON, for outcomes the crate does not model (unknown workflows).
    pub(crate) fn free(self, step: &'static str) -> Result<serde_json::Value, Error> {
        raw_data(step, self.text(step)?)
    }

    /// The text of `data`. A body the pass read is read again for it: this serves the
    /// rare answers whose `data` is not the struct of the state's answer.
    fn text(self, step: &'static str) -> Result<Option<&'a RawValue>, Error> {
        match self.read {
            Read::Text(raw) => Ok(raw),
            Read::First(_) | Read::Next(_) => Ok(envelope_text(step, self.body)?.data),
        }
    }
}

/// Decodes a 2xx wizard body as [`envelope`] does, with `data` read in the same pass as
/// `F` for a wizard's first answer ([`Expect::NewWizard`]) and as `N` for the others (see
/// the top of this file). When that pass refuses the body, the envelope is read with
/// `data` as text, and decides.
pub(crate) fn wizard<'a, F, N>(
    answer: &mut Answer<'a>,
    expect: Expect<'_>,
) -> Result<Wizard<'a, F, N>, Error>
where
    F: Deserialize<'a>,
    N: Deserialize<'a>,
{
    let (step, body) = (answer.step, answer.body);
    // First, as the derive would also read an array of the envelope's fields in order.
    object(step, "body", body)?;
    let read = match expect {
        Expect::NewWizard => typed(body, Read::First),
        Expect::Wizard(_) | Expect::NoWizard => typed(body, Read::Next),
    };
    let wizard = match read {
        Some(wizard) => wizard,
        None => {
            let envelope = envelope_text(step, body)?;
            Wizard::from_envelope(envelope, Read::Text, body)
        }
    };
    check(answer, wizard.code, &wizard.uuid, &wizard.workflow, expect)?;
    Ok(wizard)
}

/// The envelope with `data` as `D` in one pass, or `None` if the body is not that.
fn typed<'a, D, F, N>(
    body: &'a str,
    read: impl FnOnce(Option<D>) -> Read<'a, F, N>,
) -> Option<Wizard<'a, F, N>>
where
    D: Deserialize<'a>,
{
    let envelope: Envelope<'a, ObjectOnly<D>> = serde_json::from_str(body).ok()?;
    Some(Wizard::from_envelope(
        envelope,
        |data: Option<ObjectOnly<D>>| read(data.map(|object| object.0)),
        body,
    ))
}

impl<'a, F, N> Wizard<'a, F, N> {
    fn from_envelope<D>(
        envelope: Envelope<'a, D>,
        read: impl FnOnce(Option<D>) -> Read<'a, F, N>,
        body: &'a str,
    ) -> Self {
        Self {
            code: envelope.code,
            done: envelope.done,
            uuid: envelope.uuid,
            workflow: envelope.workflow,
            data: Data {
                read: read(envelope.data),
                body,
            },
        }
    }
}

/// The envelope of a body already read once, with `data` as text.
fn envelope_text<'a>(step: &'static str, body: &'a str) -> Result<Envelope<'a>, Error> {
    object(step, "body", body)?;
    serde_json::from_str(body).map_err(|e| Error::malformed(step, "body", describe_serde_error(&e)))
}

/// Reads the new pair from a refresh answer: the bare `{accessToken, refreshToken}` of the
/// Back Office page, or, when the body has a `data` that is not `null`, a wizard envelope
/// with the pair in `data` (inferred for the client realm; a refresh belongs to no wizard,
/// so its `uuid` and `workflow` may be anything, `null` or absent).
///
/// As a wizard body, it is read in one pass as the answer the page documents, the bare
/// pair (with its `data` seen, not read); any other body by its shape, as text.
pub(crate) fn refresh<'a>(answer: &mut Answer<'a>) -> Result<wire::TokenPair<'a>, Error> {
    let (step, body) = (answer.step, answer.body);
    let in_envelope = match once::<inferred::BareRefreshAnswer<'a>>(body) {
        Some(inferred::BareRefreshAnswer {
            data: None,
            access_token: Some(access_token),
            refresh_token: Some(refresh_token),
        }) => {
            return Ok(wire::TokenPair {
                access_token,
                refresh_token,
            })
        }
        Some(read) => read.data.is_some(),
        None => bare::<inferred::RefreshAnswerShape<'a>>(step, body)?
            .data
            .is_some(),
    };
    if !in_envelope {
        return bare(step, body);
    }
    let envelope = envelope(answer, Expect::NoWizard)?;
    data::<Option<wire::TokenPair<'a>>>(step, envelope.data)?
        .ok_or_else(|| Error::malformed(step, "data", "is missing"))
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
    check(
        answer,
        envelope.code,
        &envelope.uuid,
        &envelope.workflow,
        expect,
    )?;
    Ok(envelope)
}

fn check(
    answer: &mut Answer<'_>,
    code: Option<i64>,
    uuid: &str,
    workflow: &str,
    expect: Expect<'_>,
) -> Result<(), Error> {
    answer.code_against_status(code);
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
    if workflow.is_empty() {
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

    /// A sign-in answer as a lenient flow reads it.
    fn sign_in<'a>(body: &'a str, expect: Expect<'_>) -> Result<SignInAnswer<'a>, Error> {
        wizard(&mut Answer::new(STEP, 200, body, false), expect)
    }

    /// `data` is read with the envelope as the struct the state awaits, and the values are
    /// those of the body; another struct or free JSON is read from the same body.
    #[test]
    fn reads_data_as_the_awaited_struct() {
        let first = r#"{"code":200,"data":{"recaptcha":{"enabled":true},"is_qr_available":false,"x":[1,{}]},"done":false,"uuid":"u","workflow":"login"}"#;
        let answer = sign_in(first, Expect::NewWizard).unwrap();
        assert!(matches!(answer.data.read, Read::First(Some(_))), "one pass");
        let data = answer.data.first(STEP).unwrap();
        assert_eq!(data.recaptcha.and_then(|r| r.enabled), Some(true));
        assert_eq!(data.is_qr_available, Some(false));
        assert_eq!(data.is_password_recovery_available, None);

        let token = r#"{"token":"t\u0041","createdAt":"c","expiresAt":"e"}"#;
        let next = format!(
            r#"{{"uuid":"u","workflow":"Terminate","data":{{"accessToken":{token},"refreshToken":{token},"tfaProviders":[{{"name":"sms","enabled":null}}]}}}}"#
        );
        let answer = sign_in(&next, Expect::Wizard("u")).unwrap();
        assert!(matches!(answer.data.read, Read::Next(Some(_))), "one pass");
        let data = answer.data.next(STEP).unwrap();
        let access = data.access_token.unwrap();
        assert_eq!((&*access.token, &*access.expires_at), ("tA", "e"));
        assert_eq!(data.tfa_providers.len(), 1);
        assert_eq!(
            (&*data.tfa_providers[0].name, data.tfa_providers[0].enabled),
            ("sms", None)
        );

        // The first answer's struct from a later answer, and free JSON, from the same body.
        let answer = sign_in(&next, Expect::Wizard("u")).unwrap();
        assert!(answer.data.first(STEP).unwrap().recaptcha.is_none());
        let answer = sign_in(&next, Expect::Wizard("u")).unwrap();
        let free = answer.data.free(STEP).unwrap();
        assert_eq!(free["accessToken"]["token"], "tA");
        // `null` and absent `data` give the default struct and `null`.
        for body in [
            r#"{"uuid":"u","workflow":"w","data":null}"#,
            r#"{"uuid":"u","workflow":"w"}"#,
        ] {
            let answer = sign_in(body, Expect::Wizard("u")).unwrap();
            assert!(matches!(answer.data.read, Read::Next(None)), "{body}");
            assert!(answer.data.next(STEP).unwrap().tfa_providers.is_empty());
            let answer = sign_in(body, Expect::Wizard("u")).unwrap();
            assert_eq!(answer.data.free(STEP), Ok(serde_json::Value::Null));
        }
    }

    /// A `data` that is not the awaited struct fails only the reading of that struct: the
    /// answer is read, its `data` as free JSON too, and the struct's error names `data`.
    #[test]
    fn data_fails_only_the_struct_that_reads_it() {
        for data in [
            "[]",
            "[{}]",
            "7",
            r#""text""#,
            r#"{"tfaProviders":"secret-ish"}"#,
            r#"{"accessToken":{"token":5}}"#,
            r#"{"accessToken":null,"accessToken":null}"#,
        ] {
            let body = format!(r#"{{"code":200,"data":{data},"uuid":"u","workflow":"w"}}"#);
            let answer = sign_in(&body, Expect::Wizard("u")).unwrap();
            assert!(matches!(answer.data.read, Read::Text(Some(_))), "{data}");
            match answer.data.next(STEP) {
                Err(Error::Malformed {
                    field: "data",
                    reason,
                    ..
                }) => assert!(!reason.contains("secret-ish"), "{reason}"),
                other => panic!("{data}: {other:?}"),
            }
            let answer = sign_in(&body, Expect::Wizard("u")).unwrap();
            let free = answer.data.free(STEP).unwrap();
            assert_eq!(
                free,
                serde_json::from_str::<serde_json::Value>(data).unwrap()
            );
        }
        // The first answer's struct does not read `tfaProviders`: the same `data` is fine
        // as that struct.
        let body =
            r#"{"data":{"tfaProviders":"x","is_qr_available":true},"uuid":"u","workflow":"w"}"#;
        let answer = sign_in(body, Expect::NewWizard).unwrap();
        assert_eq!(answer.data.first(STEP).unwrap().is_qr_available, Some(true));
        let answer = sign_in(body, Expect::NewWizard).unwrap();
        assert!(answer.data.next(STEP).is_err());
    }

    /// What is wrong is named in the pages' order: the body, the `uuid`, the `workflow`,
    /// and `data` only once the flow reads it, whatever else the body gets wrong.
    #[test]
    fn names_the_envelope_before_data() {
        let field = |body: &str, expect| match sign_in(body, expect) {
            Err(Error::Malformed { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        };
        for data in ["[1]", r#"{"recaptcha":5,"tfaProviders":5}"#] {
            let no_uuid = format!(r#"{{"data":{data},"workflow":"w"}}"#);
            assert_eq!(field(&no_uuid, Expect::NewWizard), "uuid");
            let other = format!(r#"{{"data":{data},"uuid":"x","workflow":"w"}}"#);
            assert_eq!(field(&other, Expect::Wizard("u")), "uuid");
            let no_workflow = format!(r#"{{"data":{data},"uuid":"u"}}"#);
            assert_eq!(field(&no_workflow, Expect::NewWizard), "workflow");
            for body in [
                format!(r#"{{"data":{data},"uuid":"u","workflow":5}}"#),
                format!(r#"{{"data":{data},"uuid":"u","workflow":"w"}}x"#),
                format!(r#"[200,{data},false,"u","w"]"#),
                format!(r#"{{"data":{data},"uuid":"u","uuid":"u","workflow":"w"}}"#),
            ] {
                assert_eq!(field(&body, Expect::NewWizard), "body", "{body}");
            }
        }
    }

    /// A refresh answer: the bare pair, or the pair in the `data` of an envelope when
    /// `data` is there and not `null` (then the bare members are not read); anything else
    /// names what is wrong, and only an envelope's `code` is compared with the status.
    #[test]
    fn reads_a_refresh_answer_bare_or_in_an_envelope() {
        let token = |t: &str| {
            format!(
                r#"{{"token":"{t}","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#
            )
        };
        let (a, r) = (token("a.b.c"), token("d.e.f"));
        let (da, dr) = (token("in.data.a"), token("in.data.r"));
        let bare = Ok("a.b.c");
        let enveloped = Ok("in.data.a");
        // (status, body, the access token read or the field named, deviations noted)
        type Case = (
            u16,
            String,
            Result<&'static str, &'static str>,
            &'static [&'static str],
        );
        let cases: [Case; 16] = [
            (
                200,
                format!(r#"{{"accessToken":{a},"refreshToken":{r}}}"#),
                bare,
                &[],
            ),
            (
                201,
                format!(
                    r#"{{"refreshToken":{r},"accessToken":{a},"data":null,"code":"x","uuid":5}}"#
                ),
                bare,
                &[],
            ),
            (
                200,
                format!(
                    r#"{{"accessToken":{a},"refreshToken":{r},"data":{{"accessToken":{da},"refreshToken":{dr}}}}}"#
                ),
                enveloped,
                &[],
            ),
            (
                200,
                format!(r#"{{"accessToken":5,"data":{{"accessToken":{da},"refreshToken":{dr}}}}}"#),
                enveloped,
                &[],
            ),
            (
                200,
                format!(
                    r#"{{"data":{{"accessToken":{da},"refreshToken":{dr}}},"uuid":"u","workflow":"w"}}"#
                ),
                enveloped,
                &[],
            ),
            (
                201,
                format!(
                    r#"{{"code":200,"data":{{"accessToken":{da},"refreshToken":{dr}}},"done":true,"uuid":null,"workflow":null}}"#
                ),
                enveloped,
                &["code"],
            ),
            (
                200,
                format!(r#"{{"accessToken":{a},"refreshToken":{r},"data":7}}"#),
                Err("data"),
                &[],
            ),
            (
                200,
                format!(r#"{{"data":{{"accessToken":{da}}}}}"#),
                Err("data"),
                &[],
            ),
            (
                200,
                format!(r#"{{"code":"200","data":{{"accessToken":{da},"refreshToken":{dr}}}}}"#),
                Err("body"),
                &[],
            ),
            (
                200,
                format!(r#"{{"accessToken":{a},"accessToken":{a},"refreshToken":{r}}}"#),
                Err("body"),
                &[],
            ),
            (200, format!(r#"{{"accessToken":{a}}}"#), Err("body"), &[]),
            (
                200,
                format!(r#"{{"accessToken":{a},"refreshToken":5}}"#),
                Err("body"),
                &[],
            ),
            (
                200,
                format!(r#"{{"data":1,"data":null,"accessToken":{a},"refreshToken":{r}}}"#),
                Err("body"),
                &[],
            ),
            (200, format!(r#"[{a},{r}]"#), Err("body"), &[]),
            (200, String::from("{"), Err("body"), &[]),
            (
                200,
                format!(r#"{{"accessToken":{},"refreshToken":{r}}}"#, token("")),
                Ok(""),
                &[],
            ),
        ];
        for (status, body, expected, deviations) in &cases {
            let mut answer = Answer::new(STEP, *status, body, false);
            let read = refresh(&mut answer).map(|pair| pair.access_token.token.into_owned());
            match (read, expected) {
                (Ok(token), Ok(expected)) => assert_eq!(token, *expected, "{body}"),
                (Err(Error::Malformed { field, .. }), Err(expected)) => {
                    assert_eq!(field, *expected, "{body}")
                }
                (read, _) => panic!("{body}: {read:?}"),
            }
            let noted: Vec<String> = answer
                .finish()
                .unwrap()
                .iter()
                .map(|d| d.field().to_owned())
                .collect();
            assert_eq!(noted, *deviations, "{body}");
        }
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
