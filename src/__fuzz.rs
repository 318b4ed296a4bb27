//! **Not public API.** Thin wrappers that let the fuzz targets in `fuzz/` reach the
//! private body decoders. Compiled only with the `fuzzing` feature (off by default);
//! no stability promise of any kind. Each wrapper runs one decoder as a flow would.

use crate::error::{ApiError, Error};
use crate::token::TokenPair;
use crate::{decode, wire};

const STEP: &str = "fuzz";

/// The wizard envelope, then its `data` read as every step type the flows read.
pub fn decode_envelope(status: u16, body: &[u8], flow_uuid: Option<&str>) -> Result<(), Error> {
    let envelope = decode::envelope(STEP, status, body, flow_uuid)?;
    let signin: Result<wire::SignInData, _> = decode::data(STEP, &envelope);
    if let Ok(data) = signin {
        TokenPair::from_wire_parts(
            data.access_token.as_ref(),
            data.refresh_token.as_ref(),
            STEP,
        )?;
    }
    let _: Result<wire::SignInWizardData, _> = decode::data(STEP, &envelope);
    let _: Result<wire::SignUpWizardData, _> = decode::data(STEP, &envelope);
    let _: Result<wire::SignUpData, _> = decode::data(STEP, &envelope);
    decode::raw_data(STEP, &envelope).map(drop)
}

/// A bare `{accessToken, refreshToken}` answer (Back Office confirm, refresh).
pub fn decode_token_pair(body: &[u8]) -> Result<TokenPair, Error> {
    let wire: wire::TokenPair = decode::bare(STEP, body)?;
    TokenPair::from_wire(&wire, STEP)
}

/// The Back Office sign-in answer's shape, and its tokens when it has them.
pub fn decode_staff_answer(body: &[u8]) -> Result<Option<TokenPair>, Error> {
    let answer: wire::StaffSignInResponse = decode::bare(STEP, body)?;
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
