//! The parked form of every flow and session: what serde writes when a backend parks one
//! in a store between browser requests, and reads back, maybe in a newer deploy.
//!
//! Every flow and the session park as one JSON object whose first member is the format
//! version, `"format": 2`, followed by the flow's own members. A parked object without
//! `format` is format 1, what versions before the format carried a version wrote; it has
//! the same members and is read the same way. A format this version does not know (a
//! newer one, or anything else) is refused with a serde error naming the formats it
//! reads, whatever the order of the members.
//!
//! A store is input like any answer from the network: what is read back is checked as the
//! constructors check it (`machine::Driver`'s `Deserialize`, and [`CheckParked`] for each
//! flow's states), and a flow that reads back never panics later.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::Value;

use crate::decode::{depth, MAX_FREE_DATA_DEPTH};
use crate::error::{hide_values, Error};

/// The parked format this version writes.
pub(crate) const FORMAT: u64 = 2;

/// The oldest parked format this version reads (format 1 has no `format` member).
const OLDEST_FORMAT: u64 = 1;

/// Serde for a flow or session struct: parked as `{"format": 2, <its fields>}` and read
/// back by [`read`], from format 1 or 2.
///
/// `parked!(SignIn { driver: Driver<State> })` lists the struct's fields and their types,
/// in the order they are written.
macro_rules! parked {
    ($flow:ident { $($field:ident: $ty:ty),+ $(,)? }) => {
        impl serde::Serialize for $flow {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                #[derive(serde::Serialize)]
                struct Parked<'a> {
                    format: u64,
                    $($field: &'a $ty,)+
                }
                Parked {
                    format: $crate::parked::FORMAT,
                    $($field: &self.$field,)+
                }
                .serialize(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $flow {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                struct Fields {
                    /// A second `format` member: refused.
                    #[serde(default)]
                    format: Option<serde::de::IgnoredAny>,
                    $($field: $ty,)+
                }
                let Fields { format, $($field),+ } = $crate::parked::read(deserializer)?;
                if format.is_some() {
                    return Err(<D::Error as serde::de::Error>::duplicate_field("format"));
                }
                Ok(Self { $($field),+ })
            }
        }
    };
}
pub(crate) use parked;

/// Reads a parked flow's object into its fields `F`, once its `format` is known to be one
/// this version reads (1 when absent, or 2). Formats 1 and 2 have the same members; a
/// later format that changes them migrates the older ones here.
///
/// One pass when `format` comes first, as this version writes it. When a store reordered
/// the members (a database's JSON type may sort them), the object is read whole first,
/// so an unknown format is still the error, not whatever its members look like.
pub(crate) fn read<'de, D, F>(deserializer: D) -> Result<F, D::Error>
where
    D: Deserializer<'de>,
    F: DeserializeOwned,
{
    deserializer.deserialize_map(ParkedVisitor(PhantomData))
}

struct ParkedVisitor<F>(PhantomData<F>);

impl<'de, F: DeserializeOwned> Visitor<'de> for ParkedVisitor<F> {
    type Value = F;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parked flow (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<F, A::Error> {
        let first = map.next_key::<String>()?;
        if first.as_deref() == Some("format") {
            check_format(&map.next_value::<Value>()?)?;
            return F::deserialize(de::value::MapAccessDeserializer::new(map))
                .map_err(|e| hidden(&e));
        }
        // `format` is not first, or there is none (format 1): read the object whole.
        let mut object = serde_json::Map::new();
        let mut key = first;
        while let Some(name) = key {
            let value = map.next_value::<Value>()?;
            if object.insert(name, value).is_some() {
                return Err(de::Error::custom("a parked flow has a member twice"));
            }
            key = map.next_key::<String>()?;
        }
        if let Some(format) = object.remove("format") {
            check_format(&format)?;
        }
        F::deserialize(Value::Object(object)).map_err(|e| hidden(&e))
    }
}

/// A serde error about something parked, without any value from it (any may be a
/// secret: a password or token of the wrong type): the value of an `invalid type`,
/// `invalid value` or `unknown variant` message is hidden, as in errors about answers.
pub(crate) fn hidden<E: de::Error>(error: &impl fmt::Display) -> E {
    E::custom(hide_values(without_position(&error.to_string())))
}

/// The message without serde_json's ` at line L column C`, which it writes again on the
/// error made from it.
fn without_position(text: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.rsplit_once(" at line ") {
        Some((message, at))
            if at
                .split_once(" column ")
                .is_some_and(|(line, column)| digits(line) && digits(column)) =>
        {
            message
        }
        _ => text,
    }
}

/// `Ok` for a format this version reads; else an error that says which it reads.
fn check_format<E: de::Error>(format: &Value) -> Result<(), E> {
    match format.as_u64() {
        Some(n) if (OLDEST_FORMAT..=FORMAT).contains(&n) => Ok(()),
        Some(n) => Err(E::custom(format_args!(
            "parked format {n} is not one this version of b2core-auth reads \
             ({OLDEST_FORMAT} to {FORMAT}): was it parked by a newer version?"
        ))),
        None => Err(E::custom(format_args!(
            "a parked flow's `format` is a whole number ({OLDEST_FORMAT} to {FORMAT})"
        ))),
    }
}

/// What a flow's state must hold to be read back from a store: what the flow's
/// constructors and transitions guarantee of every state they make. The driver checks it
/// on the way in, after each field's own `Deserialize` has checked that field (tokens,
/// fingerprints, endpoints, guards, deviations).
pub(crate) trait CheckParked {
    /// `Err` names the field at fault and why, never its value.
    fn check_parked(&self) -> Result<(), Error>;
}

/// Why a parked flow was refused: serde's error says it.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) Error);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a parked flow holds what no flow would: {}", self.0)
    }
}

/// A wizard's `uuid`: every answer that gives a flow one has a non-empty one.
pub(crate) fn uuid(uuid: &str) -> Result<(), Error> {
    if uuid.is_empty() {
        return Err(Error::invalid("uuid", "is empty"));
    }
    Ok(())
}

/// A `workflow` a flow kept from an answer: the decoder refuses an empty one.
pub(crate) fn workflow(workflow: &str) -> Result<(), Error> {
    if workflow.is_empty() {
        return Err(Error::invalid("workflow", "is empty"));
    }
    Ok(())
}

/// Free JSON a flow kept from an answer (`data` of a workflow it does not model, a form's
/// `fields`): at most [`MAX_FREE_DATA_DEPTH`] levels deep, as the decoder reads it.
pub(crate) fn free_data(field: &'static str, data: &Value) -> Result<(), Error> {
    if depth(data) > MAX_FREE_DATA_DEPTH {
        return Err(Error::invalid(field, "nests deeper than a flow keeps"));
    }
    Ok(())
}
