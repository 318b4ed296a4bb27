//! Transition tables: each flow's states as a public `Copy` enum, and its documented
//! transitions as one constant that the driver checks every move against (as in h11: the
//! table drives the code, so the two cannot drift apart). The rustdoc table of each flow is
//! generated from the same macro input as the constant.

use std::fmt;

/// One row of a flow's transition table: in state `from`, `event` leads to state `to`.
///
/// Each flow publishes its table as a `TRANSITIONS` constant, shown in its rustdoc. The
/// driver checks every change of state against it and refuses one that is not a row
/// ([`Error::Internal`](crate::Error::Internal) for a call or an answer this crate's code
/// took off the table; a sign-in `workflow` the table does not list after the request is
/// [`Error::Malformed`](crate::Error::Malformed)). Calls and answers that end in an `Err`
/// are not rows: they leave the state as it was.
///
/// ```
/// use b2core_auth::client::signin::{SignInState, TRANSITIONS};
/// use b2core_auth::Event;
///
/// let first = TRANSITIONS[0];
/// assert_eq!(first.from, SignInState::New);
/// assert_eq!(first.event, Event::Call("start"));
/// assert_eq!(first.to, SignInState::AwaitWizard);
/// assert_eq!(first.to_string(), "not started --start--> waiting for the wizard");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition<S> {
    /// The state before.
    pub from: S,
    /// The call or answer.
    pub event: Event,
    /// The state after.
    pub to: S,
}

impl<S: fmt::Display> fmt::Display for Transition<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} --{}--> {}", self.from, self.event, self.to)
    }
}

/// What moves a flow: one of its calls, or an answer.
///
/// ```
/// use b2core_auth::Event;
///
/// assert_eq!(Event::Call("retry").to_string(), "retry");
/// assert_eq!(Event::Answer("2xx `login`").to_string(), "2xx `login`");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A call of the flow, by its method's name (`start`, `submit_credentials`, `retry`,
    /// ...).
    Call(&'static str),
    /// An answer, by what decided it: `2xx` (any success status), ``2xx `login` `` (a
    /// success with that `workflow`), `2xx other workflow`, `4xx`, `429`, or the statuses
    /// a page names (`401`).
    Answer(&'static str),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call(name) | Self::Answer(name) => f.write_str(name),
        }
    }
}

/// The answer event of a 2xx that no `workflow` decides.
pub(crate) const SUCCESS: Event = Event::Answer("2xx");
/// The answer event of an expected refusal.
pub(crate) const REFUSED: Event = Event::Answer("4xx");
/// The answer event of a rate limit.
pub(crate) const TOO_MANY: Event = Event::Answer("429");
/// The call that resends a request.
pub(crate) const RETRY: Event = Event::Call("retry");

/// Declares a flow's public state enum: each variant with the words `Display` writes.
macro_rules! states {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("\n\nDisplayed as \"", $text, "\".")]
                $variant,
            )*
        }

        impl $name {
            /// Every state, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The state in words, as `Display` writes it (and as errors name it).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }
        }

        impl $crate::machine::StateName for $name {
            fn as_str(&self) -> &'static str {
                $name::as_str(*self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use states;

/// One event's cell in a generated rustdoc table.
macro_rules! event_cell {
    (Call($label:literal)) => {
        concat!("`", $label, "`")
    };
    (Answer($label:literal)) => {
        $label
    };
}
pub(crate) use event_cell;

/// Declares a flow's `TRANSITIONS` constant and writes its rustdoc table from the same
/// rows, so the table the docs show is the table the driver checks.
macro_rules! transitions {
    (
        $(#[$meta:meta])*
        pub const $name:ident: [$state:ident] = [
            $( ($from:ident, $kind:ident($label:literal), $to:ident), )*
        ];
    ) => {
        $(#[$meta])*
        ///
        /// | from | event | to |
        /// |---|---|---|
        $(
            #[doc = concat!(
                "| [`", stringify!($from), "`](", stringify!($state), "::", stringify!($from),
                ") | ", $crate::table::event_cell!($kind($label)),
                " | [`", stringify!($to), "`](", stringify!($state), "::", stringify!($to), ") |"
            )]
        )*
        pub const $name: &[$crate::table::Transition<$state>] = &[
            $(
                $crate::table::Transition {
                    from: $state::$from,
                    event: $crate::table::Event::$kind($label),
                    to: $state::$to,
                },
            )*
        ];
    };
}
pub(crate) use transitions;

/// Whether `table` has the row `from --event--> to`.
pub(crate) fn has_row<S: PartialEq>(
    table: &[Transition<S>],
    from: &S,
    event: Event,
    to: &S,
) -> bool {
    // States first: they are one-byte compares, the event's label a string compare.
    table
        .iter()
        .any(|row| row.from == *from && row.to == *to && row.event == event)
}

/// Whether `table` has a row from `from` for `event`, to any state.
pub(crate) fn has_event<S: PartialEq>(table: &[Transition<S>], from: &S, event: Event) -> bool {
    table
        .iter()
        .any(|row| row.from == *from && row.event == event)
}
