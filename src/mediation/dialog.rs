//! The branches of one call (RFC 3261 §12, §16.7): its INVITE client transactions (forks,
//! retargets, retries), keyed by the topmost Via branch, and its early and confirmed
//! dialogs, keyed by the callee's tag. A 4xx–6xx on one branch does not end the call while
//! another may still answer; the call is over when every branch is final and none
//! succeeded, or when its last confirmed dialog is released by BYE.

/// What a branch (one INVITE client transaction that may create dialogs) has come to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Leg {
    Pending,
    Answered,
    /// Final non-2xx (or cancelled): this branch will not answer any more.
    Failed,
    /// Challenged (401/407) or redirected (3xx): a retry on a new branch is expected, and
    /// the call is not over because of it.
    Retry,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

/// The branches and dialogs of a call. No I/O; fed by [`super::call::Call::advance`].
#[derive(Debug, Default)]
pub struct Branches {
    pub(super) legs: Vec<(Option<String>, Leg)>,
    pub(super) dialogs: Vec<(String, DialogState)>,
}

/// Bounds on what one call remembers (a hostile peer cannot grow them without limit).
pub(super) const MAX_LEGS: usize = 32;
pub(super) const MAX_DIALOGS: usize = 32;

impl Branches {
    /// An initial INVITE (no To-tag) on `branch`. Returns true when it is a branch not
    /// seen before (a fork, retarget or retry), false for a known one.
    pub fn invite(&mut self, branch: Option<&str>) -> bool {
        if self.legs.iter().any(|(b, _)| b.as_deref() == branch) {
            return false;
        }
        if self.legs.len() < MAX_LEGS {
            self.legs.push((branch.map(str::to_owned), Leg::Pending));
        }
        true
    }

    /// The leg a response belongs to: by branch, else the only leg there is.
    fn leg_mut(&mut self, branch: Option<&str>) -> Option<&mut Leg> {
        let pos = match self.legs.iter().position(|(b, _)| b.as_deref() == branch) {
            Some(p) => Some(p),
            None if self.legs.len() == 1 => Some(0),
            None => None,
        };
        pos.and_then(|p| self.legs.get_mut(p)).map(|(_, l)| l)
    }

    fn dialog_mut(&mut self, tag: &str) -> Option<&mut DialogState> {
        if !self.dialogs.iter().any(|(t, _)| t == tag) {
            if self.dialogs.len() >= MAX_DIALOGS {
                return None;
            }
            self.dialogs.push((tag.to_owned(), DialogState::Early));
        }
        self.dialogs.iter_mut().find(|(t, _)| t == tag).map(|(_, s)| s)
    }

    /// A provisional response with a To-tag: an early dialog.
    pub fn provisional(&mut self, tag: Option<&str>) {
        if let Some(tag) = tag {
            let _ = self.dialog_mut(tag);
        }
    }

    /// A 2xx to an initial INVITE: its branch answered, its dialog is confirmed.
    pub fn answered(&mut self, branch: Option<&str>, tag: Option<&str>) {
        if let Some(leg) = self.leg_mut(branch) {
            *leg = Leg::Answered;
        }
        if let Some(state) = tag.and_then(|t| self.dialog_mut(t)) {
            *state = DialogState::Confirmed;
        }
    }

    /// A 3xx, 401 or 407: the branch is final, a retry will follow.
    pub fn retry(&mut self, branch: Option<&str>) {
        if let Some(leg) = self.leg_mut(branch) {
            if *leg == Leg::Pending {
                *leg = Leg::Retry;
            }
        }
    }

    /// A 4xx–6xx to an initial INVITE on `branch` (early dialog `tag`, if any). Returns
    /// true when the call is now over: every branch final, none answered.
    pub fn failed(&mut self, branch: Option<&str>, tag: Option<&str>) -> bool {
        if let Some(leg) = self.leg_mut(branch) {
            if *leg != Leg::Answered {
                *leg = Leg::Failed;
            }
        }
        if let Some(state) = tag.and_then(|t| self.dialog_mut(t)) {
            if *state == DialogState::Early {
                *state = DialogState::Terminated;
            }
        }
        self.all_failed()
    }

    /// A CANCEL of the initial INVITE on `branch`. Returns true when the call is ending: the
    /// first (most upstream) branch seen is cancelled — the caller gives up —, or no branch
    /// is left that may still answer. A proxy cancelling one of its forks is neither.
    pub fn cancel(&mut self, branch: Option<&str>) -> bool {
        let upstream = self.legs.len() == 1 || self.legs.first().is_some_and(|(b, _)| b.as_deref() == branch);
        if let Some(leg) = self.leg_mut(branch) {
            if *leg == Leg::Pending {
                *leg = Leg::Failed;
            }
        }
        upstream || self.all_failed()
    }

    /// A BYE in the dialog of callee tag `tag`. Returns true when no confirmed dialog is
    /// left: the call is over.
    pub fn bye(&mut self, tag: Option<&str>) -> bool {
        if let Some(tag) = tag {
            if let Some((_, state)) = self.dialogs.iter_mut().find(|(t, _)| t == tag) {
                *state = DialogState::Terminated;
            }
        }
        match tag {
            // A BYE naming no dialog we know (its 2xx was not captured) ends the call.
            Some(t) if !self.dialogs.iter().any(|(d, _)| d == t) => true,
            None => true,
            Some(_) => !self.dialogs.iter().any(|(_, s)| *s == DialogState::Confirmed),
        }
    }

    fn all_failed(&self) -> bool {
        !self.legs.is_empty()
            && self.legs.iter().all(|(_, l)| *l == Leg::Failed || *l == Leg::Retry)
            && self.legs.iter().any(|(_, l)| *l == Leg::Failed)
    }

    /// Whether the early or confirmed dialog of callee tag `tag` is still up.
    pub fn is_live(&self, tag: &str) -> bool {
        self.dialogs
            .iter()
            .any(|(t, s)| t == tag && *s != DialogState::Terminated)
    }

    /// Whether the dialog of callee tag `tag` is confirmed.
    pub fn is_confirmed(&self, tag: &str) -> bool {
        self.dialogs.iter().any(|(t, s)| t == tag && *s == DialogState::Confirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_branch_does_not_end_a_forked_call() {
        let mut b = Branches::default();
        assert!(b.invite(Some("u")));
        assert!(b.invite(Some("d1")));
        assert!(b.invite(Some("d2")));
        assert!(!b.invite(Some("d2")), "a known branch");
        b.provisional(Some("t1"));
        b.provisional(Some("t2"));
        assert!(!b.failed(Some("d1"), Some("t1")));
        assert!(!b.is_live("t1") && b.is_live("t2"));
        b.answered(Some("d2"), Some("t2"));
        b.answered(Some("u"), Some("t2"));
        assert!(b.is_confirmed("t2"));
        assert!(b.bye(Some("t2")));
    }

    #[test]
    fn every_branch_failing_ends_the_call() {
        let mut b = Branches::default();
        b.invite(Some("d1"));
        b.invite(Some("d2"));
        assert!(!b.failed(Some("d1"), Some("t1")));
        assert!(b.failed(Some("d2"), Some("t2")));
    }

    #[test]
    fn a_challenge_or_redirect_alone_does_not_end_the_call() {
        let mut b = Branches::default();
        b.invite(Some("1"));
        b.retry(Some("1"));
        assert!(!b.all_failed());
        b.invite(Some("2"));
        assert!(b.failed(Some("2"), None));
    }

    #[test]
    fn a_response_without_a_known_branch_belongs_to_the_only_leg() {
        let mut b = Branches::default();
        b.invite(None);
        assert!(b.failed(Some("other"), None));
        let mut b = Branches::default();
        b.invite(Some("x"));
        assert!(b.cancel(Some("x")));
    }

    #[test]
    fn a_proxy_cancelling_a_fork_does_not_end_the_call_the_caller_cancelling_does() {
        let mut b = Branches::default();
        b.invite(Some("u"));
        b.invite(Some("d1"));
        b.invite(Some("d2"));
        assert!(!b.cancel(Some("d1")));
        assert!(b.cancel(Some("u")));
    }

    #[test]
    fn bye_of_one_of_two_answered_dialogs_keeps_the_call() {
        let mut b = Branches::default();
        b.invite(Some("u"));
        b.answered(Some("u"), Some("t1"));
        b.answered(Some("u"), Some("t2"));
        assert!(!b.bye(Some("t1")));
        assert!(b.bye(Some("t2")));
        assert!(b.bye(None));
    }
}
