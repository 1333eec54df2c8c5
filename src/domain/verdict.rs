//! What a closed case turned out to be, and why: stored on the case, ruled
//! on by the workflow (see `workflow`).

use crate::domain::values::text_enum;

text_enum! {
    /// What a closed case turned out to be.
    pub enum Classification {
        /// Not enough is known to say.
        Undetermined => "UNDETERMINED",
        /// Real malicious activity.
        TruePositive => "TRUE_POSITIVE",
        /// Real activity, but expected or authorised (a test, an admin).
        BenignPositive => "BENIGN_POSITIVE",
        /// Detection was wrong.
        FalsePositive => "FALSE_POSITIVE",
    }
}

text_enum! {
    /// Why a case was classified as it was; each belongs to one
    /// classification (`OTHER` to any).
    pub enum Determination {
        /// True positive: malware.
        Malware => "MALWARE",
        /// True positive: phishing.
        Phishing => "PHISHING",
        /// True positive: a compromised account.
        CompromisedAccount => "COMPROMISED_ACCOUNT",
        /// True positive: a malicious user (insider).
        MaliciousUserActivity => "MALICIOUS_USER_ACTIVITY",
        /// True positive: a multi-staged attack.
        MultiStagedAttack => "MULTI_STAGED_ATTACK",
        /// True positive: unwanted software.
        UnwantedSoftware => "UNWANTED_SOFTWARE",
        /// True positive: suspicious activity.
        SuspiciousActivity => "SUSPICIOUS_ACTIVITY",
        /// Benign positive: a security test or red team.
        SecurityTesting => "SECURITY_TESTING",
        /// Benign positive: the security team's own activity.
        SecurityPersonnel => "SECURITY_PERSONNEL",
        /// Benign positive: the user confirmed it was them.
        ConfirmedUserActivity => "CONFIRMED_USER_ACTIVITY",
        /// Benign positive: a line-of-business application.
        LineOfBusinessApplication => "LINE_OF_BUSINESS_APPLICATION",
        /// Benign positive: suspicious, but expected.
        SuspiciousButExpected => "SUSPICIOUS_BUT_EXPECTED",
        /// False positive: the detection logic is wrong.
        IncorrectDetectionLogic => "INCORRECT_DETECTION_LOGIC",
        /// False positive: the data was inaccurate.
        InaccurateData => "INACCURATE_DATA",
        /// False positive: nothing malicious.
        NotMalicious => "NOT_MALICIOUS",
        /// Undetermined: not enough data to validate.
        NotEnoughDataToValidate => "NOT_ENOUGH_DATA_TO_VALIDATE",
        /// Any classification: another reason (say which in the closing comment).
        Other => "OTHER",
    }
}

impl Determination {
    /// The classification this determination explains; `None` for `OTHER`,
    /// which explains any.
    pub fn classification(self) -> Option<Classification> {
        use Determination::*;
        match self {
            Malware
            | Phishing
            | CompromisedAccount
            | MaliciousUserActivity
            | MultiStagedAttack
            | UnwantedSoftware
            | SuspiciousActivity => Some(Classification::TruePositive),
            SecurityTesting
            | SecurityPersonnel
            | ConfirmedUserActivity
            | LineOfBusinessApplication
            | SuspiciousButExpected => Some(Classification::BenignPositive),
            IncorrectDetectionLogic | InaccurateData | NotMalicious => Some(Classification::FalsePositive),
            NotEnoughDataToValidate => Some(Classification::Undetermined),
            Other => None,
        }
    }

    /// The determinations a classification allows.
    pub fn of(classification: Classification) -> Vec<Determination> {
        Determination::ALL.iter().copied().filter(|d| d.classification().is_none_or(|c| c == classification)).collect()
    }
}
