//! The closed loop (六步闭环) as one state machine: every path that moves an event — REST,
//! offline sync, the deadline sweeper — asks [`check`] whether the move is allowed from the
//! event's status for that actor, and takes the status it returns. Nothing else decides.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 上报: in, not yet taken up (the dispatchers' queue).
    Reported,
    /// 受理: taken up by the command centre.
    Accepted,
    /// 派单: a task went to a grid or team.
    Dispatched,
    /// 签收: the grid or team acknowledged it.
    Signed,
    /// 到场: someone is there.
    OnSite,
    /// 处置: handled, with feedback; awaiting review.
    Handled,
    /// 办结: reviewed and closed.
    Completed,
    /// 评价: the reporter rated the handling.
    Evaluated,
    /// Refused with a reason (not a matter for the grid, a hoax …).
    Rejected,
    /// Folded into another event reporting the same matter.
    Merged,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Reported,
        Status::Accepted,
        Status::Dispatched,
        Status::Signed,
        Status::OnSite,
        Status::Handled,
        Status::Completed,
        Status::Evaluated,
        Status::Rejected,
        Status::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reported => "reported",
            Status::Accepted => "accepted",
            Status::Dispatched => "dispatched",
            Status::Signed => "signed",
            Status::OnSite => "on_site",
            Status::Handled => "handled",
            Status::Completed => "completed",
            Status::Evaluated => "evaluated",
            Status::Rejected => "rejected",
            Status::Merged => "merged",
        }
    }

    /// A stored status; an unknown one is a corrupt row.
    pub fn parse(s: &str) -> Result<Status, crate::stored::Corrupt> {
        crate::stored::lookup("event status", &Status::ALL, Status::as_str, s)
    }

    /// Nothing moves an event out of these.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Evaluated | Status::Rejected | Status::Merged)
    }

    /// A task is out with a grid or team and its deadlines run.
    pub fn task_is_running(self) -> bool {
        matches!(self, Status::Dispatched | Status::Signed | Status::OnSite)
    }
}

/// A move of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    Accept,
    Dispatch,
    Sign,
    Arrive,
    Handle,
    Complete,
    /// Send handled work back for rework.
    Return,
    /// Take the task from its grid or team and give it to another.
    Redispatch,
    Reject,
    Evaluate,
    Merge,
}

impl Move {
    pub fn as_str(self) -> &'static str {
        match self {
            Move::Accept => "accept",
            Move::Dispatch => "dispatch",
            Move::Sign => "sign",
            Move::Arrive => "arrive",
            Move::Handle => "handle",
            Move::Complete => "complete",
            Move::Return => "return",
            Move::Redispatch => "redispatch",
            Move::Reject => "reject",
            Move::Evaluate => "evaluate",
            Move::Merge => "merge",
        }
    }
}

/// Who is asking, as far as the loop cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The server itself: routing on intake.
    System,
    /// 指挥中心 (dispatchers and admins).
    CommandCentre,
    /// A worker of the grid or team the current task is with.
    Assignee,
    /// The person who reported the event.
    Reporter,
    /// Anyone else.
    Other,
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("{actor} may not {mv}")]
    NotYours {
        actor: &'static str,
        mv: &'static str,
    },
    #[error("cannot {mv} an event that is {from}")]
    WrongStatus {
        mv: &'static str,
        from: &'static str,
    },
}

fn actor_name(a: Actor) -> &'static str {
    match a {
        Actor::System => "the system",
        Actor::CommandCentre => "the command centre",
        Actor::Assignee => "the assigned grid or team",
        Actor::Reporter => "the reporter",
        Actor::Other => "this account",
    }
}

/// Who may make a move.
fn may(actor: Actor, mv: Move) -> bool {
    use Actor::*;
    match mv {
        Move::Accept | Move::Dispatch => matches!(actor, System | CommandCentre),
        Move::Sign | Move::Arrive | Move::Handle => actor == Assignee,
        Move::Complete | Move::Return | Move::Redispatch | Move::Reject | Move::Merge => {
            actor == CommandCentre
        }
        Move::Evaluate => actor == Reporter,
    }
}

/// The status a move leads to from `from`, if the move exists there.
fn target(from: Status, mv: Move) -> Option<Status> {
    use Status::*;
    Some(match (from, mv) {
        (Reported, Move::Accept) => Accepted,
        (Reported | Accepted, Move::Dispatch) => Dispatched,
        (Dispatched, Move::Sign) => Signed,
        (Signed, Move::Arrive) => OnSite,
        (OnSite, Move::Handle) => Handled,
        (Handled, Move::Complete) => Completed,
        (Handled, Move::Return) => OnSite,
        (Dispatched | Signed | OnSite | Handled, Move::Redispatch) => Dispatched,
        (Reported | Accepted | Dispatched, Move::Reject) => Rejected,
        (Completed, Move::Evaluate) => Evaluated,
        (s, Move::Merge) if !s.is_final() && s != Completed => Merged,
        _ => return None,
    })
}

/// The one rule: may `actor` make `mv` on an event in status `from`, and where does it lead.
pub fn check(from: Status, mv: Move, actor: Actor) -> Result<Status, FlowError> {
    if !may(actor, mv) {
        return Err(FlowError::NotYours {
            actor: actor_name(actor),
            mv: mv.as_str(),
        });
    }
    target(from, mv).ok_or(FlowError::WrongStatus {
        mv: mv.as_str(),
        from: from.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOVES: [Move; 11] = [
        Move::Accept,
        Move::Dispatch,
        Move::Sign,
        Move::Arrive,
        Move::Handle,
        Move::Complete,
        Move::Return,
        Move::Redispatch,
        Move::Reject,
        Move::Evaluate,
        Move::Merge,
    ];

    #[test]
    fn the_whole_loop_runs_in_order() {
        let steps = [
            (Move::Accept, Actor::CommandCentre, Status::Accepted),
            (Move::Dispatch, Actor::CommandCentre, Status::Dispatched),
            (Move::Sign, Actor::Assignee, Status::Signed),
            (Move::Arrive, Actor::Assignee, Status::OnSite),
            (Move::Handle, Actor::Assignee, Status::Handled),
            (Move::Complete, Actor::CommandCentre, Status::Completed),
            (Move::Evaluate, Actor::Reporter, Status::Evaluated),
        ];
        let mut s = Status::Reported;
        for (mv, actor, want) in steps {
            s = check(s, mv, actor).unwrap_or_else(|e| panic!("{mv:?}: {e}"));
            assert_eq!(s, want);
        }
        assert!(s.is_final());
    }

    #[test]
    fn a_citizen_never_closes_and_only_the_assignee_signs() {
        for from in Status::ALL {
            for actor in [Actor::Reporter, Actor::Other, Actor::Assignee] {
                assert!(check(from, Move::Complete, actor).is_err());
            }
            for actor in [
                Actor::Reporter,
                Actor::Other,
                Actor::CommandCentre,
                Actor::System,
            ] {
                assert!(matches!(
                    check(from, Move::Sign, actor),
                    Err(FlowError::NotYours { .. })
                ));
            }
        }
    }

    #[test]
    fn final_states_admit_no_move() {
        for from in [Status::Evaluated, Status::Rejected, Status::Merged] {
            for mv in MOVES {
                for actor in [
                    Actor::System,
                    Actor::CommandCentre,
                    Actor::Assignee,
                    Actor::Reporter,
                ] {
                    assert!(check(from, mv, actor).is_err(), "{from:?} {mv:?} {actor:?}");
                }
            }
        }
    }

    #[test]
    fn rework_and_redispatch_go_back_into_the_loop() {
        assert_eq!(
            check(Status::Handled, Move::Return, Actor::CommandCentre),
            Ok(Status::OnSite)
        );
        for from in [
            Status::Dispatched,
            Status::Signed,
            Status::OnSite,
            Status::Handled,
        ] {
            assert_eq!(
                check(from, Move::Redispatch, Actor::CommandCentre),
                Ok(Status::Dispatched)
            );
        }
        assert!(check(Status::Completed, Move::Redispatch, Actor::CommandCentre).is_err());
        assert!(matches!(
            check(Status::Signed, Move::Handle, Actor::Assignee),
            Err(FlowError::WrongStatus { .. })
        ));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()).ok(), Some(s));
        }
    }
}
