/*
** subjects.c — subject_set_plan() and subject_start_trial(): the two subject
** changes that need the extension (a plan check, the trial end from the
** connection's clock). Everything else about a subject is plain
** UPDATE ent_subjects, checked by the schema's triggers.
*/
#include <string.h>

#include "ent.h"

#define MS_DAY 86400000LL

/* The plan argument must name a plan; returns its trial_days (or -1). */
static int plan_arg(EntConn *c, sqlite3_value *v, const char *fn, const char **plan,
                    int64_t *trial_days, EntErr *e) {
  sqlite3_stmt *st;
  int rc;
  if (sqlite3_value_type(v) != SQLITE_TEXT) {
    return ent_err(e, SQLITE_ERROR,
                   "%s: plan must be a plan name as text, not %s; to clear a subject's own plan "
                   "use UPDATE ent_subjects SET plan = NULL",
                   fn, sqlite3_value_type(v) == SQLITE_NULL ? "NULL" : "a number or blob");
  }
  *plan = (const char *)sqlite3_value_text(v);
  if (!(st = ent_stmt(c, ST_PLAN, e))) return e->code;
  sqlite3_bind_text(st, 1, *plan, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *trial_days = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
  }
  sqlite3_reset(st);
  if (rc == SQLITE_DONE) {
    return ent_err(e, SQLITE_ERROR,
                   "%s: unknown plan '%s'; plans come from entitlements_load() (see SELECT plan "
                   "FROM ent_plans)",
                   fn, *plan);
  }
  if (rc != SQLITE_ROW) return ent_err_db(e, c->db, rc, "reading ent_plans");
  return SQLITE_OK;
}

static void fn_set_plan(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  const char *subject, *plan;
  int64_t trial_days;
  sqlite3_stmt *st;
  if (!ent_argc(ctx, argc, 2, 2, "subject_set_plan(subject, plan)")) return;
  if (ent_arg_subject(argv[0], "subject_set_plan", &subject, &e) == SQLITE_OK &&
      plan_arg(c, argv[1], "subject_set_plan", &plan, &trial_days, &e) == SQLITE_OK &&
      (st = ent_stmt(c, ST_SUBJECT_SET_PLAN, &e)) != 0) {
    /* the result is copied before the write: in autocommit the write is
    ** committed as soon as it is done, and nothing may fail after it */
    char *result = sqlite3_mprintf("%s", plan);
    if (!result) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, plan, -1, SQLITE_STATIC);
    if (ent_step_done(c, st, &e, "writing ent_subjects") == SQLITE_OK) {
      sqlite3_result_text(ctx, result, -1, sqlite3_free);
      return;
    }
    sqlite3_free(result);
  }
  ent_result_err(ctx, &e);
}

static void fn_start_trial(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EntConn *c = sqlite3_user_data(ctx);
  EntErr e = {0};
  const char *subject, *plan;
  int64_t days = -1, trial_days, end;
  char buf[32];
  sqlite3_stmt *st;
  if (!ent_argc(ctx, argc, 2, 3, "subject_start_trial(subject, plan [, days])")) return;
  if (ent_arg_subject(argv[0], "subject_start_trial", &subject, &e) != SQLITE_OK ||
      plan_arg(c, argv[1], "subject_start_trial", &plan, &trial_days, &e) != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  if (argc == 3 && sqlite3_value_type(argv[2]) != SQLITE_NULL &&
      ent_arg_amount(argv[2], "subject_start_trial", "days", &days, &e) != SQLITE_OK) {
    ent_result_err(ctx, &e);
    return;
  }
  if (days < 0) days = trial_days;
  if (days < 0) {
    ent_err(&e, SQLITE_ERROR,
            "subject_start_trial: plan '%s' has no trial_days; pass the length, e.g. "
            "subject_start_trial('%s', '%s', 14)",
            plan, subject, plan);
    ent_result_err(ctx, &e);
    return;
  }
  end = ent_now(c);
  if (days > (ENT_TIME_MAX_MS - end) / MS_DAY) {
    ent_err(&e, SQLITE_ERROR, "subject_start_trial: %lld days would end the trial after year 9999",
            (long long)days);
    ent_result_err(ctx, &e);
    return;
  }
  end += days * MS_DAY;
  ent_fmt_time(end, 0, buf);
  if ((st = ent_stmt(c, ST_SUBJECT_START_TRIAL, &e)) != 0) {
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, plan, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, buf, -1, SQLITE_STATIC);
    char *result = sqlite3_mprintf("%s", buf); /* before the write, as above */
    if (!result) {
      sqlite3_result_error_nomem(ctx);
      return;
    }
    if (ent_step_done(c, st, &e, "writing ent_subjects") == SQLITE_OK) {
      sqlite3_result_text(ctx, result, -1, sqlite3_free);
      return;
    }
    sqlite3_free(result);
  }
  ent_result_err(ctx, &e);
}

int ent_register_subjects(sqlite3 *db, EntConn *c) {
  static const EntFn fns[] = {
      {"subject_set_plan", fn_set_plan},
      {"subject_start_trial", fn_start_trial},
  };
  return ent_register_fns(db, c, fns, (int)(sizeof(fns) / sizeof(fns[0])));
}
