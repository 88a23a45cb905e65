//! Working-day calendar, time limits, deadlines and traffic lights.
//!
//! Pure code: no database, no clock. Callers pass `now` in and store what comes out
//! (`due`, [`warn_at`]) so that lights can be filtered cheaply in SQL.
//!
//! * A [`TimeLimit`] is what the county configures per category ("30m", "4h", "2wd").
//! * A [`WorkCalendar`] knows the county's UTC offset, its working hours (09:00–18:00) and an
//!   editable table of overrides ([`DayKind::Holiday`] for weekdays off, [`DayKind::Workday`]
//!   for weekend make-up days, 调休).
//! * [`WorkCalendar::deadline`] turns a start instant and a limit into a due instant.
//! * [`light`] and [`warn_at`] colour a running deadline: yellow at 75 % of the time, red when
//!   past.
//!
//! Nothing here panics: arithmetic that could leave chrono's range saturates instead (see the
//! individual functions).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How far [`WorkCalendar::next_working_day`] looks before giving up (about three years).
///
/// Only a misconfigured override table (years of consecutive holidays) can exhaust it.
pub const MAX_SEARCH_DAYS: u32 = 366 * 3;

// ---------------------------------------------------------------------------------------------
// TimeLimit
// ---------------------------------------------------------------------------------------------

/// A time limit as the county configures it; stored as short text.
///
/// | text    | value                  | meaning                                              |
/// |---------|------------------------|------------------------------------------------------|
/// | `"30m"` | `Minutes(30)`          | 30 minutes of wall-clock time                        |
/// | `"4h"`  | `Hours(4)`             | 4 hours of wall-clock time                           |
/// | `"2wd"` | `WorkingDays(2)`       | the same local time two working days later           |
/// | `"0wd"` | `WorkingDays(0)`       | the end of the same working day                      |
///
/// See [`WorkCalendar::deadline`] for the exact rules. [`TimeLimit::parse`] and `Display`
/// round-trip; serde uses the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeLimit {
    /// `"30m"`: wall-clock minutes.
    Minutes(u32),
    /// `"4h"`: wall-clock hours.
    Hours(u32),
    /// `"2wd"`: working days; `"0wd"` means the end of the same working day.
    WorkingDays(u32),
}

/// Why a time-limit text was rejected by [`TimeLimit::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeLimitError {
    /// The text was empty (or only whitespace).
    #[error("the time limit is empty")]
    Empty,
    /// The text does not end in `m`, `h` or `wd`.
    #[error("time limit {0:?} has no unit: write e.g. 30m, 4h or 2wd")]
    UnknownUnit(String),
    /// The part before the unit is not a plain non-negative whole number.
    #[error("time limit {0:?} is not a whole number followed by m, h or wd")]
    InvalidNumber(String),
    /// The number does not fit in 32 bits.
    #[error("time limit {0:?} is too large")]
    Overflow(String),
}

impl TimeLimit {
    /// Parses `"30m"`, `"4h"` or `"2wd"`.
    ///
    /// Surrounding whitespace is ignored and the unit is case-insensitive (`"2WD"` is accepted);
    /// the number must be plain ASCII digits (no sign, no decimals, no spaces inside).
    pub fn parse(s: &str) -> Result<Self, TimeLimitError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(TimeLimitError::Empty);
        }
        let lower = text.to_ascii_lowercase();
        let (digits, make): (&str, fn(u32) -> TimeLimit) = if let Some(d) = lower.strip_suffix("wd")
        {
            (d, TimeLimit::WorkingDays)
        } else if let Some(d) = lower.strip_suffix('h') {
            (d, TimeLimit::Hours)
        } else if let Some(d) = lower.strip_suffix('m') {
            (d, TimeLimit::Minutes)
        } else {
            return Err(TimeLimitError::UnknownUnit(text.to_owned()));
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TimeLimitError::InvalidNumber(text.to_owned()));
        }
        // Only digits remain, so the one possible failure is overflow.
        let n: u32 = digits
            .parse()
            .map_err(|_| TimeLimitError::Overflow(text.to_owned()))?;
        Ok(make(n))
    }

    /// The wall-clock length of a `Minutes`/`Hours` limit; `None` for working days.
    pub fn wall_clock(self) -> Option<TimeDelta> {
        match self {
            TimeLimit::Minutes(m) => TimeDelta::try_minutes(i64::from(m)),
            TimeLimit::Hours(h) => TimeDelta::try_hours(i64::from(h)),
            TimeLimit::WorkingDays(_) => None,
        }
    }
}

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeLimit::Minutes(n) => write!(f, "{n}m"),
            TimeLimit::Hours(n) => write!(f, "{n}h"),
            TimeLimit::WorkingDays(n) => write!(f, "{n}wd"),
        }
    }
}

impl FromStr for TimeLimit {
    type Err = TimeLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TimeLimit::parse(s)
    }
}

impl Serialize for TimeLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TimeLimit::parse(&text).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// WorkCalendar
// ---------------------------------------------------------------------------------------------

/// An entry in the county's holiday table, overriding the Monday–Friday rule for one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DayKind {
    /// A day off that would otherwise be worked (e.g. 国庆 National Day on a weekday).
    Holiday,
    /// A day worked that would otherwise be off (调休 make-up Saturday or Sunday).
    Workday,
}

impl DayKind {
    /// `"holiday"` or `"workday"` (the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }
}

/// The county's working calendar: local UTC offset, working hours and holiday overrides.
///
/// Working hours are 09:00–18:00 local time. A date is a working day when it is Monday to
/// Friday and not marked [`DayKind::Holiday`], or when it is marked [`DayKind::Workday`]
/// (whatever its weekday). An override that agrees with the weekday rule is harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    offset: FixedOffset,
    overrides: BTreeMap<NaiveDate, DayKind>,
    day_start: NaiveTime,
    day_end: NaiveTime,
}

impl Default for WorkCalendar {
    /// Same as [`WorkCalendar::china_default`].
    fn default() -> Self {
        Self::china_default()
    }
}

impl WorkCalendar {
    /// Start of the working day, 09:00 local time.
    pub const DAY_START: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    };
    /// End of the working day, 18:00 local time.
    pub const DAY_END: NaiveTime = match NaiveTime::from_hms_opt(18, 0, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    };

    /// UTC+8, China Standard Time (checked at compile time).
    pub const CHINA_OFFSET: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
        Some(offset) => offset,
        None => panic!("UTC+8 is a valid offset"),
    };

    /// A calendar for `offset` with the given holiday table. A date listed twice keeps its
    /// last kind.
    pub fn new(
        offset: FixedOffset,
        overrides: impl IntoIterator<Item = (NaiveDate, DayKind)>,
    ) -> Self {
        Self {
            offset,
            overrides: overrides.into_iter().collect(),
            day_start: Self::DAY_START,
            day_end: Self::DAY_END,
        }
    }

    /// UTC+8 (China Standard Time), no overrides.
    pub fn china_default() -> Self {
        Self::new(Self::CHINA_OFFSET, [])
    }

    /// The county's local UTC offset.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// The holiday table, by date.
    pub fn overrides(&self) -> &BTreeMap<NaiveDate, DayKind> {
        &self.overrides
    }

    /// Start of the working day (local time).
    pub fn day_start(&self) -> NaiveTime {
        self.day_start
    }

    /// End of the working day (local time).
    pub fn day_end(&self) -> NaiveTime {
        self.day_end
    }

    /// Monday–Friday unless marked [`DayKind::Holiday`]; Saturday/Sunday only if marked
    /// [`DayKind::Workday`].
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.overrides.get(&d) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The first working day strictly after `d`.
    ///
    /// Looks at most [`MAX_SEARCH_DAYS`] ahead; if the holiday table blocks every one of those
    /// days (a misconfiguration), it falls back to the next calendar day so deadlines still
    /// move forward. At the very end of chrono's date range it returns `d` itself.
    pub fn next_working_day(&self, d: NaiveDate) -> NaiveDate {
        let mut cursor = d;
        for _ in 0..MAX_SEARCH_DAYS {
            match cursor.succ_opt() {
                Some(next) => cursor = next,
                None => break,
            }
            if self.is_working_day(cursor) {
                return cursor;
            }
        }
        d.succ_opt().unwrap_or(d)
    }

    /// When a clock started at `start` with `limit` runs out. Pure; the result is in UTC.
    ///
    /// * `Minutes(n)` / `Hours(n)`: `start + n` minutes/hours of wall-clock time, ignoring
    ///   working hours and holidays (this is what "urgent: 30 minutes" means).
    /// * `WorkingDays(n)`: `start` is converted to the county's local time. If that local
    ///   date is not a working day, or the local time is at or after the end of the working day
    ///   (18:00), the clock starts at 09:00 on the next working day; if it is before 09:00 on a
    ///   working day, it starts at 09:00 that day. Then:
    ///   * `n >= 1`: the due time is the same local time of day on the n-th following working
    ///     day (Friday 10:00 + 1wd = Monday 10:00; holidays are skipped and make-up workdays
    ///     count);
    ///   * `n == 0`: the due time is 18:00 on the (possibly moved) start day.
    ///
    /// Never panics: a result beyond chrono's range saturates to `DateTime::<Utc>::MAX_UTC`,
    /// and a `start` too close to the range ends to be converted to local time is returned
    /// unchanged.
    pub fn deadline(&self, start: DateTime<Utc>, limit: TimeLimit) -> DateTime<Utc> {
        match limit {
            TimeLimit::Minutes(_) | TimeLimit::Hours(_) => limit
                .wall_clock()
                .and_then(|d| start.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            TimeLimit::WorkingDays(n) => self.working_days_deadline(start, n),
        }
    }

    fn working_days_deadline(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let offset = TimeDelta::seconds(i64::from(self.offset.local_minus_utc()));
        let Some(local) = start.naive_utc().checked_add_signed(offset) else {
            return start;
        };
        let (mut day, mut time) = (local.date(), local.time());
        if !self.is_working_day(day) || time >= self.day_end {
            day = self.next_working_day(day);
            time = self.day_start;
        } else if time < self.day_start {
            time = self.day_start;
        }
        let due_local = if n == 0 {
            day.and_time(self.day_end)
        } else {
            match self.add_working_days(day, n) {
                Some(d) => d.and_time(time),
                None => return DateTime::<Utc>::MAX_UTC,
            }
        };
        self.to_utc(due_local)
    }

    /// The `n`-th working day after `day` (`None` when it is beyond chrono's date range).
    ///
    /// Steps one working day at a time while overrides may still apply, then jumps whole weeks
    /// (five working days each) so even `u32::MAX` working days answers at once.
    fn add_working_days(&self, day: NaiveDate, n: u32) -> Option<NaiveDate> {
        let last_override = self.overrides.keys().next_back().copied();
        let mut cursor = day;
        let mut remaining = n;
        while remaining > 0 {
            let past_overrides = last_override.is_none_or(|last| cursor > last);
            if past_overrides && remaining >= 5 && self.is_working_day(cursor) {
                // Past every override the plain Mon–Fri rule applies: seven calendar days from a
                // weekday land on the same weekday after exactly five working days.
                let weeks = remaining / 5;
                cursor = cursor.checked_add_days(chrono::Days::new(u64::from(weeks) * 7))?;
                remaining -= weeks * 5;
                continue;
            }
            let next = self.next_working_day(cursor);
            if next == cursor {
                return None; // end of chrono's range
            }
            cursor = next;
            remaining -= 1;
        }
        Some(cursor)
    }

    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let offset = TimeDelta::seconds(i64::from(self.offset.local_minus_utc()));
        match local.checked_sub_signed(offset) {
            Some(utc) => utc.and_utc(),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lights
// ---------------------------------------------------------------------------------------------

/// The traffic light of a running deadline. Ordered `Green < Yellow < Red`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    /// Less than 75 % of the time used.
    Green,
    /// At least 75 % of the time used, not yet due.
    Yellow,
    /// Due or past due (escalates).
    Red,
}

impl Light {
    /// `"green"`, `"yellow"` or `"red"` (the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }
}

impl fmt::Display for Light {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The colour of a clock that started at `start` and is due at `due`, seen at `now`.
///
/// Red when `now >= due`; yellow when `now >= warn_at(start, due)` (75 % of the time used);
/// green otherwise. When `start == due` the clock is red from the start (no division by zero).
pub fn light(start: DateTime<Utc>, due: DateTime<Utc>, now: DateTime<Utc>) -> Light {
    if now >= due {
        Light::Red
    } else if now >= warn_at(start, due) {
        Light::Yellow
    } else {
        Light::Green
    }
}

/// The instant 75 % of the way from `start` to `due`, stored beside `due` so that lights can be
/// filtered in SQL (`now >= due` → red, `now >= warn_at` → yellow).
///
/// Rounded up to the nanosecond, never later than `due`. If `due` is before `start` the
/// point still lies between the two; nothing panics.
pub fn warn_at(start: DateTime<Utc>, due: DateTime<Utc>) -> DateTime<Utc> {
    let total = due.signed_duration_since(start);
    // total - total/4 cannot overflow (same sign, smaller magnitude), unlike total * 3 / 4.
    let quarter = total.checked_div(4).unwrap_or(TimeDelta::zero());
    total
        .checked_sub(&quarter)
        .and_then(|three_quarters| start.checked_add_signed(three_quarters))
        .unwrap_or(due)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A UTC instant from a county-local (UTC+8) wall-clock time.
    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        let offset = WorkCalendar::CHINA_OFFSET;
        date(y, m, d)
            .and_hms_opt(h, min, 0)
            .unwrap()
            .and_local_timezone(offset)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        date(y, m, d).and_hms_opt(h, min, 0).unwrap().and_utc()
    }

    /// 2026: 国庆 holiday Thu 10-01 .. Wed 10-07 (10-01, 02, 05, 06, 07 are weekdays; 03/04 are
    /// the weekend anyway), make-up workday Saturday 10-10.
    fn national_day() -> WorkCalendar {
        let mut overrides: Vec<(NaiveDate, DayKind)> = (1..=7)
            .map(|d| (date(2026, 10, d), DayKind::Holiday))
            .collect();
        overrides.push((date(2026, 10, 10), DayKind::Workday));
        WorkCalendar::new(WorkCalendar::CHINA_OFFSET, overrides)
    }

    // --- TimeLimit ----------------------------------------------------------------------------

    #[test]
    fn parse_display_round_trip() {
        for (text, value) in [
            ("30m", TimeLimit::Minutes(30)),
            ("0m", TimeLimit::Minutes(0)),
            ("4h", TimeLimit::Hours(4)),
            ("2wd", TimeLimit::WorkingDays(2)),
            ("0wd", TimeLimit::WorkingDays(0)),
            ("4294967295wd", TimeLimit::WorkingDays(u32::MAX)),
        ] {
            assert_eq!(TimeLimit::parse(text).unwrap(), value, "{text}");
            assert_eq!(value.to_string(), text);
            assert_eq!(TimeLimit::parse(&value.to_string()).unwrap(), value);
            assert_eq!(text.parse::<TimeLimit>().unwrap(), value);
        }
    }

    #[test]
    fn parse_is_lenient_about_case_and_outer_whitespace() {
        assert_eq!(
            TimeLimit::parse(" 2WD ").unwrap(),
            TimeLimit::WorkingDays(2)
        );
        assert_eq!(TimeLimit::parse("4H").unwrap(), TimeLimit::Hours(4));
        assert_eq!(TimeLimit::parse("007m").unwrap(), TimeLimit::Minutes(7));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(TimeLimit::parse(""), Err(TimeLimitError::Empty));
        assert_eq!(TimeLimit::parse("   "), Err(TimeLimitError::Empty));
        assert!(matches!(
            TimeLimit::parse("5x"),
            Err(TimeLimitError::UnknownUnit(_))
        ));
        assert!(matches!(
            TimeLimit::parse("5"),
            Err(TimeLimitError::UnknownUnit(_))
        ));
        assert!(matches!(
            TimeLimit::parse("5d"),
            Err(TimeLimitError::UnknownUnit(_))
        ));
        for bad in ["-1wd", "+1wd", "wd", "m", "1.5h", "2 wd", "x2wd", "２wd"] {
            assert!(
                matches!(TimeLimit::parse(bad), Err(TimeLimitError::InvalidNumber(_))),
                "{bad}: {:?}",
                TimeLimit::parse(bad)
            );
        }
        assert!(matches!(
            TimeLimit::parse("4294967296wd"),
            Err(TimeLimitError::Overflow(_))
        ));
        assert!(matches!(
            TimeLimit::parse("99999999999999999999m"),
            Err(TimeLimitError::Overflow(_))
        ));
    }

    #[test]
    fn serde_as_string() {
        let json = serde_json::to_string(&TimeLimit::WorkingDays(2)).unwrap();
        assert_eq!(json, "\"2wd\"");
        let back: TimeLimit = serde_json::from_str("\"30m\"").unwrap();
        assert_eq!(back, TimeLimit::Minutes(30));
        assert!(serde_json::from_str::<TimeLimit>("\"5x\"").is_err());
        assert!(serde_json::from_str::<TimeLimit>("30").is_err());
        assert_eq!(
            serde_json::to_string(&DayKind::Workday).unwrap(),
            "\"workday\""
        );
        assert_eq!(serde_json::to_string(&Light::Yellow).unwrap(), "\"yellow\"");
        let red: Light = serde_json::from_str("\"red\"").unwrap();
        assert_eq!(red, Light::Red);
    }

    // --- working days -------------------------------------------------------------------------

    #[test]
    fn weekends_are_off_by_default() {
        let cal = WorkCalendar::china_default();
        assert_eq!(cal.offset().local_minus_utc(), 8 * 3600);
        assert!(cal.is_working_day(date(2026, 3, 6))); // Friday
        assert!(!cal.is_working_day(date(2026, 3, 7))); // Saturday
        assert!(!cal.is_working_day(date(2026, 3, 8))); // Sunday
        assert!(cal.is_working_day(date(2026, 3, 9))); // Monday
        assert_eq!(cal.next_working_day(date(2026, 3, 6)), date(2026, 3, 9));
        assert_eq!(cal.next_working_day(date(2026, 3, 7)), date(2026, 3, 9));
        assert_eq!(cal.next_working_day(date(2026, 3, 9)), date(2026, 3, 10));
    }

    #[test]
    fn national_day_holidays_and_make_up_saturday() {
        let cal = national_day();
        assert!(cal.is_working_day(date(2026, 9, 30))); // Wednesday before
        for d in 1..=7 {
            assert!(!cal.is_working_day(date(2026, 10, d)), "10-{d}");
        }
        assert!(cal.is_working_day(date(2026, 10, 8))); // Thursday
        assert!(cal.is_working_day(date(2026, 10, 10))); // make-up Saturday
        assert!(!cal.is_working_day(date(2026, 10, 11))); // Sunday
        assert_eq!(cal.next_working_day(date(2026, 9, 30)), date(2026, 10, 8));
        assert_eq!(cal.next_working_day(date(2026, 10, 9)), date(2026, 10, 10));
        assert_eq!(cal.next_working_day(date(2026, 10, 10)), date(2026, 10, 12));
    }

    #[test]
    fn working_days_across_national_day() {
        let cal = national_day();
        let start = local(2026, 9, 30, 10, 0); // Wednesday
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(1)),
            local(2026, 10, 8, 10, 0)
        );
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(2)),
            local(2026, 10, 9, 10, 0)
        );
        // The make-up Saturday counts.
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(3)),
            local(2026, 10, 10, 10, 0)
        );
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(4)),
            local(2026, 10, 12, 10, 0)
        );
        // Submitted during the holiday: the clock starts Thursday 10-08 09:00.
        let holiday = local(2026, 10, 3, 15, 0);
        assert_eq!(
            cal.deadline(holiday, TimeLimit::WorkingDays(1)),
            local(2026, 10, 9, 9, 0)
        );
        assert_eq!(
            cal.deadline(holiday, TimeLimit::WorkingDays(0)),
            local(2026, 10, 8, 18, 0)
        );
        // Submitted on the make-up Saturday: an ordinary working day.
        let make_up = local(2026, 10, 10, 11, 30);
        assert_eq!(
            cal.deadline(make_up, TimeLimit::WorkingDays(1)),
            local(2026, 10, 12, 11, 30)
        );
        assert_eq!(
            cal.deadline(make_up, TimeLimit::WorkingDays(0)),
            local(2026, 10, 10, 18, 0)
        );
    }

    #[test]
    fn friday_morning_plus_one_is_monday() {
        let cal = WorkCalendar::china_default();
        let friday = local(2026, 3, 6, 10, 0);
        assert_eq!(
            cal.deadline(friday, TimeLimit::WorkingDays(1)),
            local(2026, 3, 9, 10, 0)
        );
        assert_eq!(
            cal.deadline(friday, TimeLimit::WorkingDays(2)),
            local(2026, 3, 10, 10, 0)
        );
    }

    #[test]
    fn friday_evening_starts_monday_morning() {
        let cal = WorkCalendar::china_default();
        let evening = local(2026, 3, 6, 20, 15);
        assert_eq!(
            cal.deadline(evening, TimeLimit::WorkingDays(1)),
            local(2026, 3, 10, 9, 0)
        );
        assert_eq!(
            cal.deadline(evening, TimeLimit::WorkingDays(0)),
            local(2026, 3, 9, 18, 0)
        );
        // Exactly 18:00 counts as after hours.
        let six = local(2026, 3, 6, 18, 0);
        assert_eq!(
            cal.deadline(six, TimeLimit::WorkingDays(0)),
            local(2026, 3, 9, 18, 0)
        );
    }

    #[test]
    fn saturday_start() {
        let cal = WorkCalendar::china_default();
        let saturday = local(2026, 3, 7, 11, 0);
        assert_eq!(
            cal.deadline(saturday, TimeLimit::WorkingDays(1)),
            local(2026, 3, 10, 9, 0)
        );
        assert_eq!(
            cal.deadline(saturday, TimeLimit::WorkingDays(2)),
            local(2026, 3, 11, 9, 0)
        );
        assert_eq!(
            cal.deadline(saturday, TimeLimit::WorkingDays(0)),
            local(2026, 3, 9, 18, 0)
        );
    }

    #[test]
    fn early_morning_starts_at_nine() {
        let cal = WorkCalendar::china_default();
        let early = local(2026, 3, 10, 7, 45); // Tuesday
        assert_eq!(
            cal.deadline(early, TimeLimit::WorkingDays(1)),
            local(2026, 3, 11, 9, 0)
        );
        assert_eq!(
            cal.deadline(early, TimeLimit::WorkingDays(0)),
            local(2026, 3, 10, 18, 0)
        );
    }

    #[test]
    fn zero_working_days_is_end_of_same_day() {
        let cal = WorkCalendar::china_default();
        let tuesday = local(2026, 3, 10, 14, 20);
        assert_eq!(
            cal.deadline(tuesday, TimeLimit::WorkingDays(0)),
            local(2026, 3, 10, 18, 0)
        );
    }

    #[test]
    fn local_date_not_utc_date_decides() {
        // Monday 2026-03-09 01:30 local is Sunday 17:30 UTC: Monday is the working day.
        let cal = WorkCalendar::china_default();
        let start = utc(2026, 3, 8, 17, 30);
        assert_eq!(start, local(2026, 3, 9, 1, 30));
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(1)),
            local(2026, 3, 10, 9, 0)
        );
        // Results come back in UTC: 18:00 local is 10:00 UTC.
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(0)),
            utc(2026, 3, 9, 10, 0)
        );
    }

    #[test]
    fn other_offsets() {
        let cal = WorkCalendar::new(FixedOffset::west_opt(5 * 3600).unwrap(), []);
        // Friday 2026-03-06 10:00 at UTC-5 is 15:00 UTC.
        let start = utc(2026, 3, 6, 15, 0);
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(1)),
            utc(2026, 3, 9, 15, 0)
        );
    }

    #[test]
    fn wall_clock_limits_ignore_calendar() {
        let cal = national_day();
        let start = local(2026, 10, 2, 23, 50); // a holiday, at night
        assert_eq!(
            cal.deadline(start, TimeLimit::Minutes(30)),
            local(2026, 10, 3, 0, 20)
        );
        assert_eq!(
            cal.deadline(start, TimeLimit::Hours(4)),
            local(2026, 10, 3, 3, 50)
        );
        assert_eq!(cal.deadline(start, TimeLimit::Minutes(0)), start);
    }

    #[test]
    fn many_working_days_jump_whole_weeks() {
        let cal = national_day();
        let start = local(2026, 9, 1, 10, 0); // Tuesday
        // Step by step for reference.
        let mut day = date(2026, 9, 1);
        for _ in 0..200 {
            day = cal.next_working_day(day);
        }
        let expected = day.and_hms_opt(10, 0, 0).unwrap();
        let expected = cal.to_utc(expected);
        assert_eq!(cal.deadline(start, TimeLimit::WorkingDays(200)), expected);
    }

    #[test]
    fn extreme_values_never_panic() {
        let cal = national_day();
        let start = local(2026, 3, 6, 10, 0);
        assert_eq!(
            cal.deadline(start, TimeLimit::WorkingDays(u32::MAX)),
            DateTime::<Utc>::MAX_UTC
        );
        assert!(cal.deadline(start, TimeLimit::Hours(u32::MAX)) > start);
        assert!(cal.deadline(start, TimeLimit::Minutes(u32::MAX)) > start);
        let _ = cal.deadline(DateTime::<Utc>::MAX_UTC, TimeLimit::WorkingDays(1));
        let _ = cal.deadline(DateTime::<Utc>::MAX_UTC, TimeLimit::WorkingDays(0));
        let _ = cal.deadline(DateTime::<Utc>::MAX_UTC, TimeLimit::Hours(1));
        let _ = cal.deadline(DateTime::<Utc>::MIN_UTC, TimeLimit::WorkingDays(3));
        let _ = cal.next_working_day(NaiveDate::MAX);
        let _ = warn_at(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let _ = light(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC, start);
    }

    #[test]
    fn all_holidays_falls_back_to_next_day() {
        let first = date(2026, 1, 1);
        let overrides = first
            .iter_days()
            .take(MAX_SEARCH_DAYS as usize + 10)
            .map(|d| (d, DayKind::Holiday));
        let cal = WorkCalendar::new(WorkCalendar::CHINA_OFFSET, overrides);
        assert_eq!(cal.next_working_day(first), date(2026, 1, 2));
    }

    // --- lights -------------------------------------------------------------------------------

    #[test]
    fn lights_at_0_74_75_100_percent() {
        let start = utc(2026, 3, 9, 1, 0);
        let due = start + TimeDelta::minutes(100);
        assert_eq!(warn_at(start, due), start + TimeDelta::minutes(75));
        assert_eq!(light(start, due, start), Light::Green);
        assert_eq!(
            light(start, due, start + TimeDelta::minutes(74)),
            Light::Green
        );
        assert_eq!(
            light(
                start,
                due,
                start + TimeDelta::minutes(75) - TimeDelta::nanoseconds(1)
            ),
            Light::Green
        );
        assert_eq!(
            light(start, due, start + TimeDelta::minutes(75)),
            Light::Yellow
        );
        assert_eq!(
            light(start, due, start + TimeDelta::minutes(99)),
            Light::Yellow
        );
        assert_eq!(light(start, due, due), Light::Red);
        assert_eq!(light(start, due, due + TimeDelta::days(3)), Light::Red);
        // Before the clock started (clock skew): still green.
        assert_eq!(
            light(start, due, start - TimeDelta::minutes(5)),
            Light::Green
        );
    }

    #[test]
    fn start_equals_due() {
        let t = utc(2026, 3, 9, 1, 0);
        assert_eq!(warn_at(t, t), t);
        assert_eq!(light(t, t, t), Light::Red);
        assert_eq!(light(t, t, t - TimeDelta::seconds(1)), Light::Green);
    }

    #[test]
    fn light_names() {
        assert_eq!(Light::Green.as_str(), "green");
        assert_eq!(Light::Yellow.as_str(), "yellow");
        assert_eq!(Light::Red.to_string(), "red");
        assert!(Light::Green < Light::Yellow && Light::Yellow < Light::Red);
        assert_eq!(DayKind::Holiday.as_str(), "holiday");
    }
}
