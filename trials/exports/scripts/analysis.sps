* PVP + zoledronic acid in spinal multiple myeloma: the primary analysis in SPSS syntax.
*
* What it reproduces: the figures of the outcome dashboard (and of GET /api/v1/outcomes/)
* from the files of this export alone, with the dashboard definitions (DESIGN.md section 1):
* paired comparisons baseline vs follow-up of ALP, serum calcium and the QoL total
* (paired t-test, Wilcoxon signed-rank test, Shapiro-Wilk test of the differences,
* Cohen dz), the tumour response rate (EBMT) and the pain relief rate (WHO grade), each
* rate with its exact Clopper-Pearson 95 percent confidence interval.
*
* Which export: the SPSS export of the study (one <form>.sav per form). It reads
* patient.sav, lab_result.sav, qol.sav, pain.sav and response.sav and writes no file.
*
* How to run: unzip the export, then
*   GNU PSPP:  pspp analysis.sps            (in the unzipped folder)
*              pspp analysis.sps -O format=csv -o results.csv   (tables as CSV)
*   SPSS:      File > Open > Syntax, run CD with the folder (line below), then Run > All.
*   CD 'C:/path/to/the/unzipped/export'.
* The syntax is kept to commands that both IBM SPSS Statistics and GNU PSPP 1.6 accept.
*
* Where the output differs from the dashboard, and why:
* - PSPP 1.6 only: Shapiro-Wilk is wrong for fewer than 6 differences (see section 7).
* - T-TEST prints P to 3 decimals; the summary table at the end computes P exactly from t
*   (2 * CDF.T), which equals the dashboard value.
* - The asymptotic Wilcoxon P of SPSS has no continuity correction. The dashboard uses R
*   defaults: the exact P when fewer than 50 non-zero differences without ties or zeros
*   (SPSS: Exact Sig., which older SPSS versions offer only with the Exact Tests option),
*   otherwise the normal approximation with continuity correction, which SPSS does not offer.
* - The figures cover the patients of the sites the exporting user could see, as the
*   dashboard of that user does (without its site / isotype / fracture region filters).

* Show statistics with 8 decimals in PSPP (SPSS ignores this for its tables).
SET FORMAT=F20.8.

* ---------------------------------------------------------------------------------------
* 1. The analysis population: enrolled patients, i.e. a non-empty study_id.
*    Each form gets the same matching key (key, A64): the width of screening_number
*    varies between files, and MATCH FILES needs keys of one width.
* ---------------------------------------------------------------------------------------.
GET FILE='patient.sav'.
SELECT IF (study_id <> '').
STRING key (A64).
COMPUTE key = screening_number.
SORT CASES BY key.
DATASET COPY enrolled.

* ---------------------------------------------------------------------------------------
* 2. Lab values (canonical units) at baseline and follow-up, one row per patient.
*    lab_result.sav has one row per patient, timepoint and analyte; the application
*    allows one result per analyte and timepoint, so MAX picks that one value
*    (system-missing where it was not measured).
* ---------------------------------------------------------------------------------------.
GET FILE='lab_result.sav'.
STRING key (A64).
COMPUTE key = screening_number.
IF (analyte = 'alp' AND timepoint = 'baseline') v_alp_b = value.
IF (analyte = 'alp' AND timepoint = 'follow_up') v_alp_f = value.
IF (analyte = 'calcium' AND timepoint = 'baseline') v_ca_b = value.
IF (analyte = 'calcium' AND timepoint = 'follow_up') v_ca_f = value.
DATASET DECLARE labs.
AGGREGATE OUTFILE=labs /BREAK=key
  /alp_before alp_after calcium_before calcium_after = MAX(v_alp_b v_alp_f v_ca_b v_ca_f).

* ---------------------------------------------------------------------------------------
* 3. QoL total: the sum of the 12 items (each 1-5, total 12-60). A plain sum with + is
*    system-missing when any item is missing: the protocol allows no partial sums
*    (SUM() would add the items present, which the protocol forbids).
* ---------------------------------------------------------------------------------------.
GET FILE='qol.sav'.
STRING key (A64).
COMPUTE key = screening_number.
COMPUTE qol_total = q_appetite + q_mental_state + q_sleep + q_fatigue + q_pain + q_family
  + q_colleagues + q_understanding + q_attitude + q_daily_life + q_side_effects
  + q_facial_expression.
IF (timepoint = 'baseline') v_qol_b = qol_total.
IF (timepoint = 'follow_up') v_qol_f = qol_total.
DATASET DECLARE qol.
AGGREGATE OUTFILE=qol /BREAK=key /qol_before qol_after = MAX(v_qol_b v_qol_f).

* ---------------------------------------------------------------------------------------
* 4. WHO pain grade (0 none, 1 mild, 2 moderate, 3 severe) at baseline and follow-up.
* ---------------------------------------------------------------------------------------.
GET FILE='pain.sav'.
STRING key (A64).
COMPUTE key = screening_number.
IF (timepoint = 'baseline') v_pain_b = who_grade.
IF (timepoint = 'follow_up') v_pain_f = who_grade.
DATASET DECLARE pain.
AGGREGATE OUTFILE=pain /BREAK=key /pain_before pain_after = MAX(v_pain_b v_pain_f).

* ---------------------------------------------------------------------------------------
* 5. EBMT response at follow-up (one per patient), coded in EBMT order
*    1 CR, 2 PR, 3 MR, 4 NC, 5 PD; not assessed stays system-missing.
* ---------------------------------------------------------------------------------------.
GET FILE='response.sav'.
STRING key (A64).
COMPUTE key = screening_number.
RECODE category ('CR'=1) ('PR'=2) ('MR'=3) ('NC'=4) ('PD'=5) INTO v_ebmt.
DATASET DECLARE responses.
AGGREGATE OUTFILE=responses /BREAK=key /ebmt = MAX(v_ebmt).

* ---------------------------------------------------------------------------------------
* 6. One row per enrolled patient with all values. The enrolled patients are the FILE;
*    the forms are lookup TABLEs, so patients who are not enrolled drop out here.
* ---------------------------------------------------------------------------------------.
DATASET ACTIVATE enrolled.
MATCH FILES /FILE=* /TABLE=labs /TABLE=qol /TABLE=pain /TABLE=responses /BY key.
DATASET CLOSE labs.
DATASET CLOSE qol.
DATASET CLOSE pain.
DATASET CLOSE responses.

* Differences after - before (the dashboard sign). Values are recorded to at most
* 4 decimals; rounding the difference to 9 decimals removes binary noise (2.4 - 2.3 is
* not exactly 4.7 - 4.6), as the dashboard does.
COMPUTE alp_diff = RND(1E9 * (alp_after - alp_before)) / 1E9.
COMPUTE calcium_diff = RND(1E9 * (calcium_after - calcium_before)) / 1E9.
COMPUTE qol_diff = RND(1E9 * (qol_after - qol_before)) / 1E9.

* Responders: CR, PR or MR among assessed patients (system-missing if not assessed).
DO IF (NOT SYSMIS(ebmt)).
COMPUTE responder = (ebmt <= 3).
END IF.

* Pain relief from the drop in WHO grade, patients with both grades:
* a drop of 2 or more grades is marked, 1 grade effective, none or a rise ineffective.
COMPUTE pain_drop = pain_before - pain_after.
RECODE pain_drop (2 THRU HIGHEST=1) (1=2) (LOWEST THRU 0=3) INTO relief.
DO IF (NOT SYSMIS(relief)).
COMPUTE relieved = (relief <= 2).
END IF.

VARIABLE LABELS
  alp_before 'ALP at baseline (U/L)' /alp_after 'ALP at follow-up (U/L)'
  /calcium_before 'Calcium at baseline (mmol/L)' /calcium_after 'Calcium at follow-up (mmol/L)'
  /qol_before 'QoL total at baseline (12-60)' /qol_after 'QoL total at follow-up (12-60)'
  /alp_diff 'ALP difference after - before' /calcium_diff 'Calcium difference after - before'
  /qol_diff 'QoL total difference after - before'
  /ebmt 'EBMT response at follow-up' /responder 'Tumour response (CR + PR + MR)'
  /relief 'Pain relief (WHO grade drop)' /relieved 'Pain relief effective (marked + effective)'.
VALUE LABELS ebmt 1 'CR complete response' 2 'PR partial response' 3 'MR minimal response'
  4 'NC no change' 5 'PD progressive disease'
  /responder 0 'no (NC, PD)' 1 'yes (CR, PR, MR)'
  /relief 1 'marked (drop >= 2 grades)' 2 'effective (drop 1 grade)' 3 'ineffective (no drop)'
  /relieved 0 'no (ineffective)' 1 'yes (marked or effective)'.
FORMATS alp_before alp_after alp_diff (F12.2) calcium_before calcium_after calcium_diff (F12.4)
  qol_before qol_after qol_diff pain_before pain_after pain_drop (F8.0)
  ebmt responder relief relieved (F1.0).

* ---------------------------------------------------------------------------------------
* 7. Paired comparisons. /MISSING=ANALYSIS: each pair uses the patients with both values
*    (the dashboard n per variable). PAIRS a WITH b (PAIRED) tests a - b = after - before.
* ---------------------------------------------------------------------------------------.
T-TEST PAIRS=alp_after calcium_after qol_after WITH alp_before calcium_before qol_before (PAIRED)
  /CRITERIA=CI(.95)
  /MISSING=ANALYSIS.

* Wilcoxon signed-rank test of the differences against 0. This is the test of after WITH
* before, but it ranks the rounded differences, so that 2.4 - 2.3 and 4.7 - 4.6 tie as they
* do on the dashboard (after WITH before would rank them as two different values).
* Zero differences are counted as Ties and left out of the ranks, as on the dashboard.
* METHOD=EXACT adds the exact P, which is the dashboard P when fewer than 50 differences,
* none zero and no ties. Otherwise the dashboard uses the normal approximation with the
* continuity correction; the asymptotic P here is the one without it.
COMPUTE zero = 0.
NPAR TESTS
  /WILCOXON=alp_diff calcium_diff qol_diff WITH zero zero zero (PAIRED)
  /MISSING=ANALYSIS
  /METHOD=EXACT.

* Shapiro-Wilk test of the differences (EXAMINE prints it with the normal Q-Q plot).
* One EXAMINE per variable: PSPP 1.6 prints a single Tests of Normality row for a list.
* PSPP 1.6 gets W wrong for 3 to 5 values (NaN or a wrong number: it applies the
* correction of the second coefficient that algorithm AS R94 keeps for n > 5); from 6
* values on it equals R and the dashboard. SPSS is not affected.
EXAMINE VARIABLES=alp_diff
  /PLOT=NPPLOT
  /STATISTICS=NONE.
EXAMINE VARIABLES=calcium_diff
  /PLOT=NPPLOT
  /STATISTICS=NONE.
EXAMINE VARIABLES=qol_diff
  /PLOT=NPPLOT
  /STATISTICS=NONE.

* ---------------------------------------------------------------------------------------
* 8. Tumour response and pain relief: the counts per category and the rates
*    (percent among valid cases = responders / n).
* ---------------------------------------------------------------------------------------.
FREQUENCIES VARIABLES=ebmt responder relief relieved
  /STATISTICS=NONE.

* ---------------------------------------------------------------------------------------
* 9. Summary at full precision, one row: for each paired variable n, mean difference with
*    95% CI, t, df, exact two-sided P and Cohen dz = mean difference / SD of differences;
*    for each rate n, count, proportion and the exact Clopper-Pearson 95% CI
*    [IDF.BETA(0.025, k, n-k+1), IDF.BETA(0.975, k+1, n-k)], 0 for k = 0 and 1 for k = n
*    (what R binom.test and the dashboard compute).
* ---------------------------------------------------------------------------------------.
COMPUTE all_cases = 1.
DATASET DECLARE summary.
AGGREGATE OUTFILE=summary /BREAK=all_cases
  /alp_n calcium_n qol_n = N(alp_diff calcium_diff qol_diff)
  /alp_mean calcium_mean qol_mean = MEAN(alp_diff calcium_diff qol_diff)
  /alp_sd calcium_sd qol_sd = SD(alp_diff calcium_diff qol_diff)
  /response_n relief_n = N(responder relieved)
  /response_k relief_k = SUM(responder relieved).
DATASET ACTIVATE summary.

DO REPEAT n = alp_n calcium_n qol_n
  /m = alp_mean calcium_mean qol_mean
  /s = alp_sd calcium_sd qol_sd
  /lo = alp_ci_low calcium_ci_low qol_ci_low
  /hi = alp_ci_high calcium_ci_high qol_ci_high
  /t = alp_t calcium_t qol_t
  /df = alp_df calcium_df qol_df
  /p = alp_p calcium_p qol_p
  /dz = alp_dz calcium_dz qol_dz.
DO IF (n >= 2 AND s > 0).
COMPUTE df = n - 1.
COMPUTE t = m / (s / SQRT(n)).
COMPUTE p = 2 * CDF.T(-ABS(t), df).
COMPUTE lo = m - IDF.T(0.975, df) * s / SQRT(n).
COMPUTE hi = m + IDF.T(0.975, df) * s / SQRT(n).
COMPUTE dz = m / s.
END IF.
END REPEAT.

DO REPEAT n = response_n relief_n
  /k = response_k relief_k
  /rate = response_rate relief_rate
  /lo = response_ci_low relief_ci_low
  /hi = response_ci_high relief_ci_high.
DO IF (n > 0).
COMPUTE rate = k / n.
COMPUTE lo = 0.
COMPUTE hi = 1.
IF (k > 0) lo = IDF.BETA(0.025, k, n - k + 1).
IF (k < n) hi = IDF.BETA(0.975, k + 1, n - k).
END IF.
END REPEAT.

FORMATS alp_n calcium_n qol_n alp_df calcium_df qol_df response_n relief_n response_k relief_k (F8.0)
  alp_mean calcium_mean qol_mean alp_ci_low calcium_ci_low qol_ci_low alp_ci_high calcium_ci_high
  qol_ci_high alp_t calcium_t qol_t alp_dz calcium_dz qol_dz (F20.10)
  alp_p calcium_p qol_p (E20.12)
  response_rate relief_rate response_ci_low relief_ci_low response_ci_high relief_ci_high (F14.12).

LIST VARIABLES=alp_n alp_mean alp_ci_low alp_ci_high alp_t alp_df alp_p alp_dz.
LIST VARIABLES=calcium_n calcium_mean calcium_ci_low calcium_ci_high calcium_t calcium_df
  calcium_p calcium_dz.
LIST VARIABLES=qol_n qol_mean qol_ci_low qol_ci_high qol_t qol_df qol_p qol_dz.
LIST VARIABLES=response_n response_k response_rate response_ci_low response_ci_high.
LIST VARIABLES=relief_n relief_k relief_rate relief_ci_low relief_ci_high.
