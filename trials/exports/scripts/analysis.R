# PVP + zoledronic acid in spinal multiple myeloma: the study's primary analysis in R.
#
# What it reproduces: the figures of the outcome dashboard (and of GET /api/v1/outcomes/), from the
# files of this export alone: paired comparisons before/after (ALP, calcium, QoL total and every
# other analyte with pairs), the tumour response rate and the pain relief rate, each with the same
# definitions and the same tests as the dashboard (DESIGN.md section 1, "Outcome definitions").
#
# Which export: the CSV export of the study (one <form>.csv per form, UTF-8, empty = missing).
# It reads patient.csv, lab_result.csv, qol.csv, pain.csv, response.csv and data_dictionary.csv.
#
# How to run: unzip the export, then in that folder
#     Rscript analysis.R
# (or `Rscript analysis.R path/to/folder`; in R: setwd() to the folder, then source("analysis.R")).
# It prints a report and writes analysis_results.csv (columns analysis, statistic, value; numbers
# with 17 significant digits, empty = not computable) for comparison by a program.
# Needs base R only (R >= 4.0; the packages stats and utils come with R).
#
# The figures cover the patients of the sites the exporting user could see, as the dashboard of
# that user does (without its site / isotype / fracture-region filters).

args <- commandArgs(trailingOnly = TRUE)
folder <- if (length(args) > 0) args[[1]] else "."

QOL_ITEMS <- c(
  "q_appetite", "q_mental_state", "q_sleep", "q_fatigue", "q_pain", "q_family", "q_colleagues",
  "q_understanding", "q_attitude", "q_daily_life", "q_side_effects", "q_facial_expression"
)
EBMT_CATEGORIES <- c("CR", "PR", "MR", "NC", "PD")
EBMT_RESPONDERS <- c("CR", "PR", "MR")
PAIRED_ALWAYS <- c(alp = "U/L", calcium = "mmol/L", qol_total = "points")

# Every column is read as text first and made numeric where it is a number: R would otherwise guess
# types (a column holding only "F" would become the logical FALSE). The files are UTF-8 with a byte
# order mark; encoding = "UTF-8" marks the text as UTF-8 without converting it, which works in every
# locale (fileEncoding = "UTF-8-BOM" stops at the first Chinese character in a C locale).
read_form <- function(form) {
  path <- file.path(folder, paste0(form, ".csv"))
  if (!file.exists(path)) {
    stop(sprintf("%s not found: run this script in the unzipped CSV export folder", path), call. = FALSE)
  }
  table <- utils::read.csv(path, colClasses = "character", na.strings = "", encoding = "UTF-8",
                           check.names = FALSE)
  names(table) <- sub("^\ufeff", "", names(table))
  table
}

# --- the analysis population: enrolled patients (a study ID) -------------------------------------

patients <- read_form("patient")
enrolled <- patients$screening_number[!is.na(patients$study_id)]

# One value per enrolled patient (in the order of `enrolled`; NA where the form is missing) from a
# form with one row per patient and timepoint (the application allows one live form per timepoint).
at_timepoint <- function(table, values, timepoint) {
  rows <- which(table$timepoint == timepoint)
  values[rows][match(enrolled, table$screening_number[rows])]
}

labs <- read_form("lab_result")
labs$value <- as.numeric(labs$value)
qol <- read_form("qol")
# The QoL total is the sum of the 12 items (1-5 each, total 12-60); a missing item leaves the total
# missing (the protocol: no partial sums), as NA + x is NA.
qol$total <- Reduce(`+`, lapply(QOL_ITEMS, function(item) as.numeric(qol[[item]])))
pain <- read_form("pain")
pain$who_grade <- as.numeric(pain$who_grade)
responses <- read_form("response")

# --- paired comparisons ---------------------------------------------------------------------------

# Mirrors trials/statistics.py paired_comparison: pairs with a missing side are dropped;
# diff = after - before, rounded to 9 decimals (values are recorded to at most 4 decimals: the
# rounding removes binary noise, e.g. 2.4 - 2.3 != 4.7 - 4.6, that would break ties or make equal
# differences look different).
paired_comparison <- function(before, after) {
  keep <- !is.na(before) & !is.na(after)
  before <- before[keep]
  after <- after[keep]
  n <- length(before)
  out <- list(n = n, before_mean = NA, before_sd = NA, after_mean = NA, after_sd = NA, mean_diff = NA,
              diff_ci95_low = NA, diff_ci95_high = NA, t = NA, df = NA, p = NA, cohens_dz = NA,
              shapiro_p = NA, wilcoxon_p = NA)
  if (n == 0) {
    return(c(out, reason = "no patients with both a baseline and a follow-up value"))
  }
  diffs <- round(after - before, 9)
  out$before_mean <- mean(before)
  out$after_mean <- mean(after)
  out$mean_diff <- mean(diffs)
  if (n < 2) {
    return(c(out, reason = "one pair only: SD and tests need at least 2"))
  }
  out$before_sd <- sd(before)
  out$after_sd <- sd(after)
  notes <- character()
  all_equal <- all(diffs == diffs[1])
  if (all_equal) {
    notes <- c(notes, "all differences are equal: t, its CI and dz are undefined")
  } else {
    # The paired t-test is the one-sample t-test of the differences: t.test(after, before,
    # paired = TRUE) computes after - before and runs exactly this; we pass the rounded differences.
    tested <- stats::t.test(diffs, mu = 0, conf.level = 0.95)
    out$t <- unname(tested$statistic)
    out$df <- unname(tested$parameter)
    out$p <- tested$p.value
    out$diff_ci95_low <- tested$conf.int[1]
    out$diff_ci95_high <- tested$conf.int[2]
    out$cohens_dz <- mean(diffs) / sd(diffs)  # Lakens 2013: mean of the differences / their SD
  }
  if (n < 3) {
    notes <- c(notes, "Shapiro-Wilk needs at least 3 pairs")
  } else if (all_equal) {
    notes <- c(notes, "Shapiro-Wilk is undefined when all differences are equal")
  } else if (n > 5000) {
    notes <- c(notes, "Shapiro-Wilk is computed for at most 5000 pairs (as R's shapiro.test)")
  } else {
    out$shapiro_p <- stats::shapiro.test(diffs)$p.value
  }
  if (all(diffs == 0)) {
    notes <- c(notes, "Wilcoxon is undefined when all differences are zero")
  } else {
    # Signed-rank test of the differences, i.e. wilcox.test(after, before, paired = TRUE) on the
    # rounded differences (unrounded, 2.4 -> 2.3 and 4.7 -> 4.6 would not tie and P would differ
    # from the dashboard's). R's defaults are the dashboard's rule, spelled out here: zero
    # differences are dropped; the exact p when
    # fewer than 50 non-zero differences remain and there are neither ties nor zeros, otherwise the
    # normal approximation with the tie-corrected variance and the continuity correction. (R warns
    # when it falls back to the approximation; the fallback is intended.)
    out$wilcoxon_p <- suppressWarnings(
      stats::wilcox.test(diffs, mu = 0, exact = NULL, correct = TRUE)$p.value
    )
  }
  c(out, reason = if (length(notes)) paste(notes, collapse = "; ") else NA)
}

# Analytes in the protocol's order (the data dictionary lists the codes), then any other code found.
analyte_order <- function() {
  dictionary <- read_form("data_dictionary")
  choices <- dictionary$choices[dictionary$form == "lab_result" & dictionary$variable == "analyte"]
  codes <- character()
  if (length(choices) == 1 && !is.na(choices)) {  # "alp=Alkaline phosphatase; calcium=Serum calcium; ..."
    codes <- regmatches(choices, gregexpr("(?<=^|; )[a-z0-9_]+(?==)", choices, perl = TRUE))[[1]]
  }
  c(codes, sort(setdiff(unique(labs$analyte), codes)))
}

lab_pair <- function(analyte) {
  rows <- labs[labs$analyte == analyte, ]
  list(before = at_timepoint(rows, rows$value, "baseline"), after = at_timepoint(rows, rows$value, "follow_up"))
}

pairs <- list(alp = lab_pair("alp"), calcium = lab_pair("calcium"),
              qol_total = list(before = at_timepoint(qol, qol$total, "baseline"),
                               after = at_timepoint(qol, qol$total, "follow_up")))
# As on the dashboard: ALP, calcium and QoL always, then every other analyte with at least one pair.
for (analyte in setdiff(analyte_order(), names(PAIRED_ALWAYS))) {
  candidate <- lab_pair(analyte)
  if (any(!is.na(candidate$before) & !is.na(candidate$after))) {
    pairs[[analyte]] <- candidate
  }
}
paired <- lapply(pairs, function(pair) paired_comparison(pair$before, pair$after))

# --- rates ------------------------------------------------------------------------------------------

# Proportion with the exact Clopper-Pearson 95% CI: binom.test's interval is
# [qbeta(0.025, k, n - k + 1), qbeta(0.975, k + 1, n - k)], 0 for k = 0 and 1 for k = n.
rate_with_ci <- function(count, n) {
  if (n == 0) {
    return(list(rate = NA, ci95_low = NA, ci95_high = NA))
  }
  interval <- stats::binom.test(count, n, conf.level = 0.95)$conf.int
  list(rate = count / n, ci95_low = interval[1], ci95_high = interval[2])
}

# Tumour response (EBMT, the clinician's category at follow-up): n = enrolled patients assessed;
# responders = CR + PR + MR.
categories <- responses$category[match(enrolled, responses$screening_number)]
categories <- categories[!is.na(categories)]
unknown <- setdiff(categories, EBMT_CATEGORIES)
if (length(unknown)) stop("unknown EBMT categories: ", paste(unknown, collapse = ", "), call. = FALSE)
response_counts <- sapply(EBMT_CATEGORIES, function(code) sum(categories == code))
response_responders <- sum(response_counts[EBMT_RESPONDERS])
response <- c(list(n = length(categories)), as.list(response_counts), list(responders = response_responders),
              rate_with_ci(response_responders, length(categories)))

# Pain relief: WHO grade drop from baseline to follow-up, patients with both grades;
# >= 2 grades marked, 1 grade effective, none or worse ineffective; rate = (marked + effective) / n.
grade_before <- at_timepoint(pain, pain$who_grade, "baseline")
grade_after <- at_timepoint(pain, pain$who_grade, "follow_up")
both <- !is.na(grade_before) & !is.na(grade_after)
drop <- grade_before[both] - grade_after[both]
relief_counts <- c(marked = sum(drop >= 2), effective = sum(drop == 1), ineffective = sum(drop <= 0))
relief_responders <- relief_counts[["marked"]] + relief_counts[["effective"]]
relief <- c(list(n = length(drop)), as.list(relief_counts), list(responders = relief_responders),
            rate_with_ci(relief_responders, length(drop)))

# --- the report ---------------------------------------------------------------------------------------

number <- function(x, digits = 2) if (is.na(x)) "-" else formatC(x, format = "f", digits = digits)
p_text <- function(p) if (is.na(p)) "-" else if (p < 0.001) "<0.001" else formatC(p, format = "f", digits = 3)
percent <- function(x) if (is.na(x)) "-" else paste0(formatC(100 * x, format = "f", digits = 2), "%")

cat("PVP + zoledronic acid in spinal multiple myeloma: primary analysis (R ", R.version$major, ".",
    R.version$minor, ")\n", sep = "")
cat("Export folder: ", normalizePath(folder), "\n", sep = "")
cat("Analysis population: ", length(enrolled), " enrolled patients (non-empty study_id) of ",
    nrow(patients), " registered\n\n", sep = "")

cat("Paired comparisons: baseline vs follow-up, diff = after - before, patients with both values\n")
header <- sprintf("%-20s %4s %20s %20s %28s %8s %4s %7s %7s %9s %9s",
                  "variable", "n", "before mean (SD)", "after mean (SD)", "mean diff [95% CI]", "t", "df", "P",
                  "dz", "Shapiro P", "Wilcoxon P")
cat(header, "\n", strrep("-", nchar(header)), "\n", sep = "")
for (name in names(paired)) {
  r <- paired[[name]]
  label <- if (name %in% names(PAIRED_ALWAYS)) paste0(name, " (", PAIRED_ALWAYS[[name]], ")") else name
  cat(sprintf("%-20s %4d %20s %20s %28s %8s %4s %7s %7s %9s %9s\n",
              label, r$n,
              paste0(number(r$before_mean), " (", number(r$before_sd), ")"),
              paste0(number(r$after_mean), " (", number(r$after_sd), ")"),
              paste0(number(r$mean_diff), " [", number(r$diff_ci95_low), ", ", number(r$diff_ci95_high), "]"),
              number(r$t, 3), if (is.na(r$df)) "-" else r$df, p_text(r$p), number(r$cohens_dz),
              p_text(r$shapiro_p), p_text(r$wilcoxon_p)))
  if (!is.na(r$reason)) cat(sprintf("%-20s note: %s\n", "", r$reason))
}

cat("\nTumour response (EBMT) at follow-up, enrolled patients assessed: n = ", response$n, "\n", sep = "")
cat(paste0("  ", EBMT_CATEGORIES, " ", response_counts, collapse = "\n"), "\n", sep = "")
cat("  responders (CR + PR + MR): ", response$responders, "/", response$n, " = ", percent(response$rate),
    ", exact 95% CI ", percent(response$ci95_low), " to ", percent(response$ci95_high), "\n", sep = "")

cat("\nPain relief (WHO grade, baseline to follow-up), patients with both grades: n = ", relief$n, "\n", sep = "")
cat(paste0("  ", names(relief_counts), " ", relief_counts, collapse = "\n"), "\n", sep = "")
cat("  effective rate (marked + effective): ", relief$responders, "/", relief$n, " = ", percent(relief$rate),
    ", exact 95% CI ", percent(relief$ci95_low), " to ", percent(relief$ci95_high), "\n", sep = "")

# --- analysis_results.csv: every figure at full precision ---------------------------------------------

full_precision <- function(x) if (is.na(x)) "" else format(x, digits = 17)
rows <- list()
add_rows <- function(analysis, values) {
  values <- values[names(values) != "reason"]
  rows[[length(rows) + 1]] <<- data.frame(analysis = analysis, statistic = names(values),
                                          value = vapply(values, full_precision, ""), row.names = NULL)
}
add_rows("population", list(registered = nrow(patients), enrolled = length(enrolled)))
for (name in names(paired)) add_rows(name, paired[[name]])
add_rows("tumour_response", response)
add_rows("pain_relief", relief)
results_path <- file.path(folder, "analysis_results.csv")
utils::write.csv(do.call(rbind, rows), results_path, row.names = FALSE)
cat("\nEvery figure at full precision: ", results_path, "\n", sep = "")
