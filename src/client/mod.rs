//! Client flows of the B2Core UI (`/api/v2/my/...`): the sign-in wizard (with forced
//! password reset) and the sign-up wizard.

pub mod signin;
pub mod signup;

pub use signin::{Credentials, Method, SignIn, SignInStep, WizardOptions};
pub use signup::{SignUp, SignUpForm, SignUpStep};
