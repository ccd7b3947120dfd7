# Written by metasynth 0.1.0: the main analyses of the report "Mesenchymal stromal cells for COVID-19 acute respiratory distress syndrome".
# Run with: Rscript <this file> (needs the metafor package)

cat("\n== mortality: All-cause mortality at 28 days to one month ==\n")
local({
  # Written by metasynth 0.1.0: All-cause mortality at 28 days to one month (studies)
  # 0.5 added to every cell, in studies with a zero cell; studies with no events in either arm excluded
  library(metafor)
  dat <- data.frame(
    study = c("Shu 2020", "Dilogo 2021", "Lanzoni 2021", "Shi 2021", "Zhu 2021", "Monsel 2022", "Bowdish 2023", "Zarrabi 2023"),
    ai = c(0, 10, 2, 0, 0, 5, 42, 3),
    n1i = c(12, 20, 12, 65, 29, 21, 112, 19),
    ci = c(3, 16, 7, 0, 2, 4, 47, 8),
    n2i = c(29, 20, 12, 35, 29, 24, 110, 24))
  # studies without events (or with only events) in both arms are left out
  dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  dat <- dat[!dz, ]
  es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = 0.5, to = "only0", drop00 = FALSE)
  mh <- dat
  fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, measure = "RR", add = 0.5, to = "only0", drop00 = FALSE, level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== mortality_longest: All-cause mortality at longest follow-up up to 90 days ==\n")
local({
  # Written by metasynth 0.1.0: All-cause mortality at longest follow-up up to 90 days (studies)
  # 0.5 added to every cell, in studies with a zero cell; studies with no events in either arm excluded
  library(metafor)
  dat <- data.frame(
    study = c("Shu 2020", "Adas 2021", "Dilogo 2021", "Lanzoni 2021", "Shi 2021", "Zhu 2021", "Monsel 2022", "Bowdish 2023", "Pochon 2023", "Zarrabi 2023"),
    ai = c(0, 3, 10, 2, 0, 0, 5, 42, 3, 3),
    n1i = c(12, 10, 20, 12, 65, 29, 21, 112, 15, 19),
    ci = c(3, 6, 16, 7, 0, 2, 4, 47, 3, 8),
    n2i = c(29, 10, 20, 12, 35, 29, 24, 110, 15, 24))
  # studies without events (or with only events) in both arms are left out
  dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  dat <- dat[!dz, ]
  es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = 0.5, to = "only0", drop00 = FALSE)
  mh <- dat
  fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, measure = "RR", add = 0.5, to = "only0", drop00 = FALSE, level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== mortality_any_followup: All-cause mortality at longest follow-up (any length) ==\n")
local({
  # Written by metasynth 0.1.0: All-cause mortality at longest follow-up (any length) (studies)
  # 0.5 added to every cell, in studies with a zero cell; studies with no events in either arm excluded
  library(metafor)
  dat <- data.frame(
    study = c("Shu 2020", "Adas 2021", "Dilogo 2021", "Lanzoni 2021", "Shi 2021", "Zhu 2021", "Monsel 2022", "Rebelatto 2022", "Bowdish 2023", "Pochon 2023", "Zarrabi 2023"),
    ai = c(0, 3, 10, 2, 0, 0, 5, 5, 42, 3, 3),
    n1i = c(12, 10, 20, 12, 65, 29, 21, 11, 112, 15, 19),
    ci = c(3, 6, 16, 7, 0, 2, 4, 1, 47, 3, 8),
    n2i = c(29, 10, 20, 12, 35, 29, 24, 6, 110, 15, 24))
  # studies without events (or with only events) in both arms are left out
  dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  dat <- dat[!dz, ]
  es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = 0.5, to = "only0", drop00 = FALSE)
  mh <- dat
  fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, measure = "RR", add = 0.5, to = "only0", drop00 = FALSE, level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== sae: Serious adverse events (patients with at least one) ==\n")
local({
  # Written by metasynth 0.1.0: Serious adverse events (patients with at least one) (studies)
  # 0.5 added to every cell, in studies with a zero cell; studies with no events in either arm excluded
  library(metafor)
  dat <- data.frame(
    study = c("Lanzoni 2021", "Shi 2021", "Monsel 2022"),
    ai = c(2, 1, 6),
    n1i = c(12, 65, 21),
    ci = c(8, 0, 6),
    n2i = c(12, 35, 24))
  # studies without events (or with only events) in both arms are left out
  dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  dat <- dat[!dz, ]
  es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = 0.5, to = "only0", drop00 = FALSE)
  mh <- dat
  fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, measure = "RR", add = 0.5, to = "only0", drop00 = FALSE, level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== ards_improvement: ARDS resolution or improvement ==\n")
local({
  # Written by metasynth 0.1.0: ARDS resolution or improvement (studies)
  # 0.5 added to every cell, in studies with a zero cell; studies with no events in either arm excluded
  library(metafor)
  dat <- data.frame(
    study = c("Bowdish 2023"),
    ai = c(51),
    n1i = c(104),
    ci = c(46),
    n2i = c(106))
  # studies without events (or with only events) in both arms are left out
  dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  dat <- dat[!dz, ]
  es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = 0.5, to = "only0", drop00 = FALSE)
  mh <- dat
  fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, measure = "RR", add = 0.5, to = "only0", drop00 = FALSE, level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "z", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== clinical_improvement: Clinical improvement ==\n")
local({
  # Written by metasynth 0.1.0: Clinical improvement (studies)
  # 0.5 added to every cell, in studies with a zero cell; studies with no events in either arm excluded
  library(metafor)
  dat <- data.frame(
    study = c("Shu 2020", "Zhu 2021", "Martínez-Muñoz 2024"),
    ai = c(12, 29, 5),
    n1i = c(12, 29, 10),
    ci = c(25, 22, 0),
    n2i = c(29, 29, 10))
  # studies without events (or with only events) in both arms are left out
  dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  dat <- dat[!dz, ]
  es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = 0.5, to = "only0", drop00 = FALSE)
  mh <- dat
  fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, measure = "RR", add = 0.5, to = "only0", drop00 = FALSE, level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== invasive_ventilation: Need for new invasive mechanical ventilation ==\n")
local({
  # Written by metasynth 0.1.0: Need for new invasive mechanical ventilation (studies)
  # 0.5 added to every cell, in studies with a zero cell; studies with no events in either arm excluded
  library(metafor)
  dat <- data.frame(
    study = c("Shu 2020", "Fathi-Kazerooni 2022"),
    ai = c(0, 7),
    n1i = c(12, 14),
    ci = c(4, 12),
    n2i = c(29, 15))
  # studies without events (or with only events) in both arms are left out
  dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))
  dat <- dat[!dz, ]
  es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = 0.5, to = "only0", drop00 = FALSE)
  mh <- dat
  fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, measure = "RR", add = 0.5, to = "only0", drop00 = FALSE, level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== hospital_length_of_stay: Length of hospital stay ==\n")
local({
  # Written by metasynth 0.1.0: Length of hospital stay (studies)
  library(metafor)
  # Shu 2020, treatment arm: mean by Luo 2018; SD by Wan 2014 from q1 16, median 20, q3 24, n = 12
  # Shu 2020, control arm: mean by Luo 2018; SD by Wan 2014 from q1 20, median 24, q3 26.5, n = 29
  # Zhu 2021, treatment arm: mean by Luo 2018; SD by Wan 2014 from q1 8, median 11, q3 14, n = 29
  # Zhu 2021, control arm: mean by Luo 2018; SD by Wan 2014 from q1 11, median 15, q3 19, n = 29
  dat <- data.frame(
    study = c("Shu 2020", "Zhu 2021"),
    m1i = c(20, 11),
    sd1i = c(6.6334991708126037, 4.6728971962616823),
    n1i = c(12, 29),
    m2i = c(23.464913793103449, 15),
    sd2i = c(5.0623052959501553, 6.2305295950155761),
    n2i = c(29, 29))
  es <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat)
  fit_common <- rma(yi, vi, data = es, method = "EE", level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) identity(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})

cat("\n== time_to_clinical_improvement: Time to clinical improvement or symptom remission ==\n")
local({
  # Written by metasynth 0.1.0: Time to clinical improvement or symptom remission (studies)
  library(metafor)
  # Shu 2020, treatment arm: mean by Luo 2018; SD by Wan 2014 from q1 6, median 9, q3 13, n = 12
  # Shu 2020, control arm: mean by Luo 2018; SD by Wan 2014 from q1 9.5, median 14, q3 21, n = 29
  # Zhu 2021, treatment arm: mean by Luo 2018; SD by Wan 2014 from q1 7, median 7, q3 12, n = 29
  # Zhu 2021, control arm: mean by Luo 2018; SD by Wan 2014 from q1 8, median 13, q3 16, n = 29
  dat <- data.frame(
    study = c("Shu 2020", "Zhu 2021"),
    m1i = c(9.3662500000000009, 8.783620689655173),
    sd1i = c(5.804311774461028, 3.894080996884735),
    n1i = c(12, 29),
    m2i = c(14.891810344827586, 12.286551724137931),
    sd2i = c(8.9563862928348907, 6.2305295950155761),
    n2i = c(29, 29))
  es <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat)
  fit_common <- rma(yi, vi, data = es, method = "EE", level = 95)
  # metafor's default tolerances stop the iterative tau2 estimators near 1e-5; metasynth iterates to 1e-10
  fit_random <- rma(yi, vi, data = es, method = "REML", test = "knha", level = 95,
                    control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
  print(fit_common)
  print(fit_random)
  est <- function(fit) identity(c(fit$beta[1], fit$ci.lb, fit$ci.ub))
  cat(sprintf("common %.10g %.10g %.10g\n", est(fit_common)[1], est(fit_common)[2], est(fit_common)[3]))
  cat(sprintf("random %.10g %.10g %.10g\n", est(fit_random)[1], est(fit_random)[2], est(fit_random)[3]))
  cat(sprintf("tau2 %.10g\n", fit_random$tau2))
})
