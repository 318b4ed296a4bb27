//! The pages: one per step a visitor can be at, plain HTML forms and one button of script.
//! Each page is `<main id="step" data-step="...">`, the step's name, for people and tests
//! alike. Nothing here ever writes a password, code or token: the forms never fill in a
//! secret field, and every text that came from elsewhere (an email, a host's message) is
//! escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::client::Method;

/// What the visitor sees.
pub enum View<'a> {
    /// Nothing in progress: sign in or sign up.
    Home,
    Credentials {
        email: Option<&'a str>,
        recaptcha: bool,
    },
    ChooseMethod {
        methods: &'a [Method],
    },
    Code {
        method: Method,
    },
    ResetRequired,
    ResetCode,
    PasswordChanged,
    /// A rate limit: the step is held until `until`.
    Wait {
        until: SystemTime,
        now: SystemTime,
    },
    SignUpForm,
    SignUpDone {
        email: Option<&'a str>,
    },
    SignedIn {
        email: Option<&'a str>,
    },
    /// The host led somewhere this gateway does not go.
    Unsupported {
        workflow: &'a str,
    },
}

impl View<'_> {
    fn step(&self) -> &'static str {
        match self {
            View::Home => "home",
            View::Credentials { .. } => "credentials",
            View::ChooseMethod { .. } => "choose-method",
            View::Code { .. } => "code",
            View::ResetRequired => "reset-required",
            View::ResetCode => "reset-code",
            View::PasswordChanged => "password-changed",
            View::Wait { .. } => "wait",
            View::SignUpForm => "signup-form",
            View::SignUpDone { .. } => "signup-done",
            View::SignedIn { .. } => "signed-in",
            View::Unsupported { .. } => "unsupported",
        }
    }
}

/// The whole page for `view`, with `error` (a refusal or a notice) above its form.
pub fn render(view: &View<'_>, error: Option<&str>) -> String {
    let mut head = String::new();
    let mut body = String::new();
    let title = match view {
        View::Home => {
            body.push_str("<p>Sign in to your account, or create one.</p>");
            body.push_str(&form("/signin", "", "Sign in"));
            body.push_str(&form("/signup", "", "Create an account"));
            "Welcome"
        }
        View::Credentials { email, recaptcha } => {
            let mut fields = format!(
                r#"<label>Email <input type="email" name="email" autocomplete="username" required value="{}"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>"#,
                escape(email.unwrap_or(""))
            );
            if *recaptcha {
                fields.push_str(
                    r#"<label>reCAPTCHA response <input type="text" name="recaptcha" required></label>"#,
                );
            }
            body.push_str(&form("/signin/credentials", &fields, "Sign in"));
            body.push_str(&form("/signup", "", "Create an account instead"));
            "Sign in"
        }
        View::ChooseMethod { methods } => {
            let mut fields = String::new();
            for (i, method) in methods.iter().enumerate() {
                let checked = if i == 0 { " checked" } else { "" };
                let _ = write!(
                    fields,
                    r#"<label><input type="radio" name="method" value="{}"{checked}> {}</label>"#,
                    method.as_str(),
                    method_name(*method)
                );
            }
            body.push_str("<p>How do you want to confirm it is you?</p>");
            body.push_str(&form("/signin/method", &fields, "Continue"));
            "Two-factor authentication"
        }
        View::Code { method } => {
            let _ = write!(
                body,
                r#"<p>Enter the code {} (<span id="method">{}</span>).</p>"#,
                match method {
                    Method::Sms => "we sent to your phone by SMS",
                    _ => "your authenticator app shows",
                },
                method.as_str()
            );
            body.push_str(&form(
                "/signin/code",
                r#"<label>Code <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required></label>"#,
                "Confirm",
            ));
            "Two-factor authentication"
        }
        View::ResetRequired => {
            body.push_str(
                "<p>Your password must be changed before you can sign in. We will email you a code to confirm it is you.</p>",
            );
            body.push_str(&form("/signin/reset-code", "", "Email me a code"));
            "Password change required"
        }
        View::ResetCode => {
            body.push_str("<p>Enter the code we emailed you, and your new password.</p>");
            body.push_str(&form(
                "/signin/reset",
                r#"<label>Code <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required></label>
<label>New password <input type="password" name="password" autocomplete="new-password" required></label>
<label>New password again <input type="password" name="password_confirmation" autocomplete="new-password" required></label>"#,
                "Change the password",
            ));
            body.push_str(&form("/signin/reset-code", "", "Send another code"));
            "Change your password"
        }
        View::PasswordChanged => {
            body.push_str("<p>Your password was changed. Sign in with the new one.</p>");
            body.push_str(&form("/signin", "", "Sign in"));
            "Password changed"
        }
        View::Wait { until, now } => {
            let seconds = seconds_until(*until, *now);
            let _ = write!(head, r#"<meta http-equiv="refresh" content="{seconds}">"#);
            let _ = write!(
                body,
                r#"<p>Too many attempts. You can try again at <time id="retry-at">{}</time>, in <span id="wait-seconds">{seconds}</span> s. This page reloads itself then.</p>"#,
                clock_time(*until)
            );
            body.push_str(&form("/retry", "", "Try again"));
            "Please wait"
        }
        View::SignUpForm => {
            body.push_str(&form(
                "/signup/form",
                r#"<label>Email <input type="email" name="email" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="new-password" required></label>
<label>Password again <input type="password" name="password_confirmation" autocomplete="new-password" required></label>
<label>First name <input type="text" name="given_name" autocomplete="given-name"></label>
<label>Last name <input type="text" name="family_name" autocomplete="family-name"></label>
<label>Country code <input type="text" name="country_code"></label>"#,
                "Create the account",
            ));
            body.push_str(&form("/signin", "", "I have an account: sign in"));
            "Create an account"
        }
        View::SignUpDone { email } => {
            let _ = write!(
                body,
                "<p>The account {} was created. Sign in with it.</p>",
                escape(email.unwrap_or(""))
            );
            body.push_str(&form("/signin", "", "Sign in"));
            "Account created"
        }
        View::SignedIn { email } => {
            let _ = write!(
                body,
                r#"<p>Signed in as <span id="email">{}</span>. Your tokens stay on the server; this browser holds only a random id.</p>
<p><button type="button" id="call-api">Call the API</button></p>
<pre id="api-result"></pre>
<script>
document.getElementById("call-api").addEventListener("click", async () => {{
  const out = document.getElementById("api-result");
  out.textContent = "...";
  try {{
    const response = await fetch("/api/whoami", {{ credentials: "same-origin" }});
    out.textContent = response.status + " " + await response.text();
  }} catch (e) {{
    out.textContent = "failed: " + e;
  }}
}});
</script>"#,
                escape(email.unwrap_or(""))
            );
            body.push_str(&form("/signout", "", "Sign out"));
            "Signed in"
        }
        View::Unsupported { workflow } => {
            let _ = write!(
                body,
                "<p>The host asks for a step this gateway does not support (<code>{}</code>).</p>",
                escape(workflow)
            );
            body.push_str(&form("/signin", "", "Start over"));
            "Not supported"
        }
    };
    let error = error.map_or_else(String::new, |e| {
        format!(r#"<p id="error" role="alert">{}</p>"#, escape(e))
    });
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · B2Core gateway</title>{head}
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; }}
label {{ display: block; margin: .5rem 0; }}
input[type=email], input[type=password], input[type=text] {{ display: block; width: 100%; padding: .4rem; box-sizing: border-box; }}
form {{ margin: 1rem 0; }}
button {{ padding: .4rem 1rem; }}
#error {{ color: #a00; border-left: 3px solid #a00; padding-left: .5rem; }}
pre {{ background: #f4f4f4; padding: .5rem; white-space: pre-wrap; }}
</style></head>
<body><main id="step" data-step="{step}">
<h1>{title}</h1>
{error}{body}
</main></body></html>
"#,
        step = view.step()
    )
}

fn form(action: &str, fields: &str, button: &str) -> String {
    format!(
        r#"<form action="{action}" method="post">{fields}<button type="submit">{button}</button></form>
"#
    )
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Sms => "a code by SMS",
        _ => "Google Authenticator",
    }
}

/// Whole seconds from `now` to `until`, rounded up (at least 1: the page reloads then).
pub fn seconds_until(until: SystemTime, now: SystemTime) -> u64 {
    let left = until.duration_since(now).unwrap_or(Duration::ZERO);
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
}

/// `HH:MM:SS UTC`.
fn clock_time(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
