//! The client wizards: sign-in (with 2FA and forced password reset) and sign-up.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::accounts::{email_key, google_code, google_period, ClientAccount, ClientRecord};
use super::limits::{self, Limiter};
use super::requests;
use super::tokens::PairJson;
use super::{Channel, Fail, Outcome, Reply, Server, WizardInit};

/// A client 2FA method.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Method {
    Google,
    Sms,
}

impl Method {
    fn workflow(self) -> &'static str {
        match self {
            Self::Google => "2fa_google_auth",
            Self::Sms => "2fa_sms_auth",
        }
    }

    fn provider(self) -> Provider {
        let (name, caption) = match self {
            Self::Google => ("google", "Google Authenticator"),
            Self::Sms => ("sms", "SMS"),
        };
        Provider {
            enabled: true,
            localized_caption: caption,
            name,
        }
    }
}

// The answers' `data`, each with its fields in key order (the bytes of the same object
// built as a `serde_json::Value`). An `Option` is a field the dialect may write as `null`
// (`Dialect::null_optionals`).

/// One of `tfaProviders`.
#[derive(Serialize)]
struct Provider {
    enabled: bool,
    #[serde(rename = "localizedCaption")]
    localized_caption: &'static str,
    name: &'static str,
}

/// `data` of the sign-in wizard (workflow `login`).
#[derive(Serialize)]
struct WizardData {
    is_password_recovery_available: Option<bool>,
    is_qr_available: Option<bool>,
    recaptcha: Recaptcha,
}

#[derive(Serialize)]
struct Recaptcha {
    enabled: bool,
}

/// `data` of the 2FA workflows: no tokens yet, the providers.
#[derive(Serialize)]
struct NoTokens {
    #[serde(rename = "accessToken")]
    access_token: (),
    #[serde(rename = "refreshToken")]
    refresh_token: (),
    #[serde(rename = "tfaProviders")]
    tfa_providers: Vec<Provider>,
}

/// `data` of `Terminate`: the pair and no providers.
#[derive(Serialize)]
struct SignedIn {
    #[serde(flatten)]
    pair: PairJson,
    #[serde(rename = "tfaProviders")]
    tfa_providers: Option<[Provider; 0]>,
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

/// `data` of the sign-up wizard: `{"fields": {}}`.
#[derive(Serialize)]
struct FormData {
    fields: Option<Empty>,
}

/// An open wizard, keyed by its uuid.
#[derive(Clone)]
pub(crate) enum Flow {
    SignIn(Stage),
    /// A sign-up wizard waiting for `POST /api/v2/my/signup`.
    SignUp,
}

/// Where a sign-in wizard stands. `account` is the account's email key.
#[derive(Clone)]
pub(crate) enum Stage {
    /// Waiting for credentials (workflow `login`).
    Login,
    /// Workflow `2fa`: waiting for the choice of method.
    Choose { account: String },
    /// Workflow `2fa_google_auth` / `2fa_sms_auth`: waiting for a code.
    Code {
        account: String,
        method: Method,
        /// The SMS code sent for this flow.
        sms_code: Option<String>,
    },
    /// Workflow `reset_password_email`: waiting for `restore`.
    ResetRequired { account: String },
    /// Workflow `reset_password_code`: waiting for `reset` (or another `restore`).
    ResetCode { account: String, code: String },
}

fn out_of_order(expected: &str) -> Fail {
    Fail::violation(
        400,
        format!("step out of order for this uuid: the wizard expects {expected}"),
    )
}

impl Stage {
    fn expects(&self) -> &'static str {
        match self {
            Self::Login => "POST /api/v2/my/signin",
            Self::Choose { .. } => "POST /api/v2/my/signin/2fa",
            Self::Code {
                method: Method::Google,
                ..
            } => "POST /api/v2/my/2fa/google",
            Self::Code {
                method: Method::Sms,
                ..
            } => "POST /api/v2/my/2fa/sms",
            Self::ResetRequired { .. } => "POST /api/v2/my/signin/password/restore",
            Self::ResetCode { .. } => "POST /api/v2/my/signin/password/reset (or another restore)",
        }
    }
}

/// Checks a `device_fingerprint`: standard padded Base64 of a JSON object with a string
/// `user_agent`.
fn check_fingerprint(encoded: &str) -> Result<(), Fail> {
    let bad = |why: &str| Fail::violation(400, format!("device_fingerprint {why}"));
    let json = STANDARD
        .decode(encoded)
        .map_err(|_| bad("is not standard padded Base64"))?;
    let object: serde_json::Map<String, Value> =
        serde_json::from_slice(&json).map_err(|_| bad("does not decode to a JSON object"))?;
    match object.get("user_agent") {
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(bad("has a `user_agent` that is not a string")),
        None => Err(bad("has no `user_agent`")),
    }
}

fn no_tokens(providers: Vec<Provider>) -> NoTokens {
    NoTokens {
        access_token: (),
        refresh_token: (),
        tfa_providers: providers,
    }
}

impl Server {
    /// The flow of a uuid, or a violation saying why there is none.
    fn flow(&self, uuid: &str) -> Result<&Flow, Fail> {
        match self.flows.get(uuid) {
            Some(flow) => Ok(flow),
            None if self.ended_flows.contains(uuid) => Err(Fail::violation(
                400,
                "uuid belongs to a wizard that has already ended",
            )),
            None => Err(Fail::violation(400, "unknown uuid")),
        }
    }

    /// The sign-in stage of a uuid; a sign-up uuid is a violation.
    fn sign_in_stage(&self, uuid: &str) -> Result<&Stage, Fail> {
        match self.flow(uuid)? {
            Flow::SignIn(stage) => Ok(stage),
            Flow::SignUp => Err(Fail::violation(
                400,
                "uuid belongs to a sign-up wizard, not a sign-in wizard",
            )),
        }
    }

    fn end_flow(&mut self, uuid: &str) {
        self.flows.remove(uuid);
        self.ended_flows.insert(uuid.to_owned());
    }

    /// A uuid no wizard, ended wizard or Back Office 2FA token has.
    pub(super) fn fresh_uuid(&mut self) -> String {
        loop {
            let uuid = self.rng.uuid();
            if !self.flows.contains_key(&uuid)
                && !self.ended_flows.contains(&uuid)
                && !self.staff_2fa.contains_key(&uuid)
            {
                return uuid;
            }
        }
    }

    /// `GET /api/v2/my/signin/wizard`.
    pub(super) fn sign_in_wizard(&mut self) -> Reply {
        let uuid = self.fresh_uuid();
        self.flows.insert(uuid.clone(), Flow::SignIn(Stage::Login));
        let dialect = self.config.dialect;
        let data = WizardData {
            is_password_recovery_available: dialect.or_null(false),
            is_qr_available: dialect.or_null(false),
            recaptcha: Recaptcha {
                enabled: self.recaptcha.is_some(),
            },
        };
        let (code, done) = match dialect.wizard_init {
            WizardInit::CurrentPage => (200, false),
            WizardInit::DoneAtInit => (202, true),
        };
        Reply::envelope(code, data, done, &uuid, "login")
    }

    /// `POST /api/v2/my/signin`.
    pub(super) fn sign_in(&mut self, body: requests::SignIn, now: SystemTime) -> Outcome {
        let stage = self.sign_in_stage(&body.uuid)?;
        if !matches!(stage, Stage::Login) {
            return Err(out_of_order(stage.expects()));
        }
        check_fingerprint(&body.device_fingerprint)?;
        if self.recaptcha.is_some() && body.recaptcha_response.is_none() {
            return Err(Fail::violation(
                400,
                "missing recaptchaResponse although the wizard said recaptcha.enabled = true",
            ));
        }
        let key = email_key(&body.email);
        self.client_sign_in_limits
            .entry(key.clone())
            .or_insert_with(|| Limiter::new(limits::CLIENT_SIGN_IN, Some(limits::CLIENT_BLOCK)))
            .attempt(now)
            .map_err(|retry_after| Fail::Limited { retry_after })?;
        if let Some(accepted) = &self.recaptcha {
            if body.recaptcha_response.as_deref() != Some(accepted.as_str()) {
                return Err(Fail::refused(400, "reCAPTCHA verification failed"));
            }
        }
        let account = match self.clients.get(&key) {
            Some(record) if record.account.password == body.password => record.account.clone(),
            _ => return Err(Fail::refused(400, "invalid email or password")),
        };
        let uuid = body.uuid;
        let next = match (account.google, account.sms) {
            (true, true) => {
                let providers = vec![Method::Google.provider(), Method::Sms.provider()];
                self.set_stage(&uuid, Stage::Choose { account: key });
                return Ok(Reply::envelope(
                    200,
                    no_tokens(providers),
                    false,
                    &uuid,
                    "2fa",
                ));
            }
            (true, false) => Method::Google,
            (false, true) => Method::Sms,
            (false, false) => return self.after_authentication(&uuid, &key, now),
        };
        let sms_code = (next == Method::Sms).then(|| self.send_code(Channel::Sms, &account.phone));
        self.set_stage(
            &uuid,
            Stage::Code {
                account: key,
                method: next,
                sms_code,
            },
        );
        Ok(Reply::envelope(
            200,
            no_tokens(vec![next.provider()]),
            false,
            &uuid,
            next.workflow(),
        ))
    }

    /// `POST /api/v2/my/signin/2fa`.
    pub(super) fn choose_method(&mut self, body: requests::ChooseMethod) -> Outcome {
        let stage = self.sign_in_stage(&body.uuid)?;
        let Stage::Choose { account } = stage else {
            return Err(out_of_order(stage.expects()));
        };
        let account = account.clone();
        let method = match body.method.as_str() {
            "google" => Method::Google,
            "sms" => Method::Sms,
            _ => return Err(Fail::violation(400, "`type` must be `google` or `sms`")),
        };
        let sms_code = match method {
            Method::Sms => {
                let phone = self
                    .clients
                    .get(&account)
                    .map(|r| r.account.phone.clone())
                    .unwrap_or_default();
                Some(self.send_code(Channel::Sms, &phone))
            }
            Method::Google => None,
        };
        self.set_stage(
            &body.uuid,
            Stage::Code {
                account,
                method,
                sms_code,
            },
        );
        Ok(Reply::envelope(
            200,
            (),
            false,
            &body.uuid,
            method.workflow(),
        ))
    }

    /// `POST /api/v2/my/2fa/google` and `POST /api/v2/my/2fa/sms`.
    pub(super) fn submit_code(
        &mut self,
        method: Method,
        body: requests::Code,
        now: SystemTime,
    ) -> Outcome {
        let stage = self.sign_in_stage(&body.uuid)?;
        let Stage::Code {
            account,
            method: expected,
            sms_code,
        } = stage
        else {
            return Err(out_of_order(stage.expects()));
        };
        if *expected != method {
            return Err(out_of_order(stage.expects()));
        }
        let ok = match method {
            Method::Sms => sms_code.as_deref() == Some(body.code.as_str()),
            Method::Google => self
                .clients
                .get(account)
                .is_some_and(|record| google_accepts(record, &body.code, now)),
        };
        if !ok {
            return Err(Fail::refused(400, "invalid 2FA code"));
        }
        let account = account.clone();
        self.after_authentication(&body.uuid, &account, now)
    }

    /// Credentials (and 2FA, if on) are good: a forced reset, or tokens.
    fn after_authentication(&mut self, uuid: &str, account: &str, now: SystemTime) -> Outcome {
        let Some(record) = self.clients.get(account) else {
            return Err(Fail::refused(400, "invalid email or password"));
        };
        if record.account.force_password_reset {
            self.set_stage(
                uuid,
                Stage::ResetRequired {
                    account: account.to_owned(),
                },
            );
            return Ok(Reply::envelope(
                200,
                (),
                false,
                uuid,
                "reset_password_email",
            ));
        }
        let subject = record.id;
        let pair = self.issue_pair(super::tokens::Realm::Client, subject, now)?;
        let data = SignedIn {
            pair,
            tfa_providers: self.config.dialect.or_null([]),
        };
        let reply = Reply::envelope(202, data, true, uuid, "Terminate");
        self.end_flow(uuid);
        Ok(reply)
    }

    /// `POST /api/v2/my/signin/password/restore` (inferred body `{uuid}`).
    pub(super) fn restore(&mut self, body: requests::Restore) -> Outcome {
        let stage = self.sign_in_stage(&body.uuid)?;
        let account = match stage {
            Stage::ResetRequired { account } | Stage::ResetCode { account, .. } => account.clone(),
            other => return Err(out_of_order(other.expects())),
        };
        let email = self
            .clients
            .get(&account)
            .map(|r| r.account.email.clone())
            .unwrap_or_default();
        let code = self.send_code(Channel::Email, &email);
        self.set_stage(&body.uuid, Stage::ResetCode { account, code });
        Ok(Reply::envelope(
            200,
            (),
            false,
            &body.uuid,
            "reset_password_code",
        ))
    }

    /// `POST /api/v2/my/signin/password/reset` (inferred body
    /// `{uuid, code, password, password_confirmation}`).
    pub(super) fn reset(&mut self, body: requests::Reset) -> Outcome {
        let stage = self.sign_in_stage(&body.uuid)?;
        let Stage::ResetCode { account, code } = stage else {
            return Err(out_of_order(stage.expects()));
        };
        if *code != body.code {
            return Err(Fail::refused(400, "invalid verification code"));
        }
        if body.password != body.password_confirmation {
            return Err(Fail::refused(
                400,
                "password and password_confirmation differ",
            ));
        }
        if body.password.is_empty() {
            return Err(Fail::refused(400, "password is empty"));
        }
        let account = account.clone();
        if let Some(record) = self.clients.get_mut(&account) {
            record.account.password = body.password;
            record.account.force_password_reset = false;
        }
        self.end_flow(&body.uuid);
        Ok(Reply::envelope(200, (), false, &body.uuid, "login"))
    }

    /// `POST /api/v2/my/signup/wizard`.
    pub(super) fn sign_up_wizard(&mut self, _body: requests::SignUpWizard) -> Outcome {
        let uuid = self.fresh_uuid();
        self.flows.insert(uuid.clone(), Flow::SignUp);
        Ok(Reply::envelope(
            202,
            FormData {
                fields: self.config.dialect.or_null(Empty {}),
            },
            true,
            &uuid,
            "basic_register_form",
        ))
    }

    /// `POST /api/v2/my/signup`.
    pub(super) fn sign_up(&mut self, body: requests::SignUp) -> Outcome {
        match self.flow(&body.uuid)? {
            Flow::SignUp => {}
            Flow::SignIn(_) => {
                return Err(Fail::violation(
                    400,
                    "uuid belongs to a sign-in wizard, not a sign-up wizard",
                ))
            }
        }
        check_fingerprint(&body.device_fingerprint)?;
        if self.clients.contains_key(&email_key(&body.email)) {
            return Err(Fail::refused(400, "the email is already registered"));
        }
        if body.password != body.password_confirmation {
            return Err(Fail::refused(
                400,
                "password and password_confirmation differ",
            ));
        }
        if body.email.is_empty() || body.password.is_empty() {
            return Err(Fail::refused(400, "email and password must not be empty"));
        }
        self.add_client(ClientAccount::new(body.email, body.password));
        self.end_flow(&body.uuid);
        let data = self.config.dialect.or_null(Empty {});
        Ok(Reply::envelope(202, data, true, &body.uuid, "login"))
    }

    fn set_stage(&mut self, uuid: &str, stage: Stage) {
        if let Some(flow) = self.flows.get_mut(uuid) {
            *flow = Flow::SignIn(stage);
        }
    }
}

/// The current or the previous 30-second period's code.
fn google_accepts(record: &ClientRecord, code: &str, now: SystemTime) -> bool {
    let period = google_period(now);
    [period, period.saturating_sub(1)]
        .iter()
        .any(|&p| google_code(record.google_secret, p) == code)
}
