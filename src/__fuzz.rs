//! **Not public API.** Thin wrappers that let the fuzz targets in `fuzz/` reach the
//! private body decoders. Compiled only under `--cfg fuzzing` (which `cargo fuzz` sets);
//! no stability promise of any kind. Each wrapper runs one decoder as a flow would.

use crate::deviation::Answer;
use crate::error::{ApiError, Error};
use crate::token::TokenPair;
use crate::{decode, wire};

pub use crate::time::{format_rfc3339, parse_http_date, parse_rfc3339};

const STEP: &str = "fuzz";

/// The body as text, checked as `Endpoint::classify` checks a 2xx body.
fn text(body: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(body).map_err(|_| Error::malformed(STEP, "body", "is not UTF-8"))
}

/// The wizard envelope, then its `data` read as every flow reads it: as the struct of
/// each answer of the sign-in and sign-up wizards, and as free JSON.
pub fn decode_envelope(status: u16, body: &[u8], flow_uuid: Option<&str>) -> Result<(), Error> {
    let body = text(body)?;
    let expect = match flow_uuid {
        Some(uuid) => decode::Expect::Wizard(uuid),
        None => decode::Expect::NewWizard,
    };
    let answer = || Answer::new(STEP, status, body, false);
    let sign_in = || decode::wizard(&mut answer(), expect).map(|a: decode::SignInAnswer| a.data);
    let sign_up = || decode::wizard(&mut answer(), expect).map(|a: decode::SignUpAnswer| a.data);
    let _ = sign_in()?.first(STEP);
    if let Ok(data) = sign_in()?.next(STEP) {
        TokenPair::from_wire_parts(
            data.access_token.as_ref(),
            data.refresh_token.as_ref(),
            STEP,
        )?;
    }
    let _ = sign_up()?.first(STEP);
    if let Ok(data) = sign_up()?.next(STEP) {
        TokenPair::from_wire_parts(
            data.access_token.as_ref(),
            data.refresh_token.as_ref(),
            STEP,
        )?;
    }
    sign_in()?.free(STEP).map(drop)
}

/// A bare `{accessToken, refreshToken}` answer (Back Office confirm, refresh).
pub fn decode_token_pair(body: &[u8]) -> Result<TokenPair, Error> {
    let wire: wire::TokenPair = decode::bare(STEP, text(body)?)?;
    TokenPair::from_wire(&wire, STEP)
}

/// The Back Office sign-in answer's shape, and its tokens when it has them.
pub fn decode_staff_answer(body: &[u8]) -> Result<Option<TokenPair>, Error> {
    let answer: wire::StaffSignInResponse = decode::bare(STEP, text(body)?)?;
    TokenPair::from_wire_parts(
        answer.access_token.as_ref(),
        answer.refresh_token.as_ref(),
        STEP,
    )
}

/// An error body, read leniently as the flows read 4xx/5xx answers.
pub fn decode_error_body(status: u16, body: &[u8]) -> ApiError {
    ApiError::from_body(status, body)
}
