# Runs dropkeys' printed Athena (Trino) SQL on DuckDB: sqlglot transpiles each statement from
# Trino to DuckDB, and `cloudtrail_logs` is a view over the trail files of an archive, with the
# columns of the CloudTrail table AWS's documentation creates for Athena.
# usage: python run_athena_sql.py SCRIPT.sql 'ARCHIVE/AWSLogs/*/CloudTrail/**/*.json.gz'  -> JSON rows
import datetime
import json
import sys

import duckdb
import sqlglot

RECORD = """STRUCT(
  eventVersion VARCHAR,
  userIdentity STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, invokedBy VARCHAR,
    sessionContext STRUCT(sessionIssuer STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, userName VARCHAR))),
  eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, sourceIPAddress VARCHAR,
  errorCode VARCHAR, requestParameters JSON, eventID VARCHAR,
  resources STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[],
  eventType VARCHAR, recipientAccountId VARCHAR, eventCategory VARCHAR)"""

VIEW = """CREATE VIEW cloudtrail_logs AS
SELECT r.eventVersion AS eventversion,
  CASE WHEN r.userIdentity IS NULL THEN NULL ELSE struct_pack(
    type := r.userIdentity.type, principalid := r.userIdentity.principalId, arn := r.userIdentity.arn,
    accountid := r.userIdentity.accountId, invokedby := r.userIdentity.invokedBy,
    sessioncontext := struct_pack(sessionissuer := struct_pack(
      type := r.userIdentity.sessionContext.sessionIssuer.type, principalid := r.userIdentity.sessionContext.sessionIssuer.principalId,
      arn := r.userIdentity.sessionContext.sessionIssuer.arn, accountid := r.userIdentity.sessionContext.sessionIssuer.accountId,
      username := r.userIdentity.sessionContext.sessionIssuer.userName))) END AS useridentity,
  r.eventTime AS eventtime, r.eventSource AS eventsource, r.eventName AS eventname, r.awsRegion AS awsregion,
  r.sourceIPAddress AS sourceipaddress, r.errorCode AS errorcode, CAST(r.requestParameters AS VARCHAR) AS requestparameters,
  r.eventID AS eventid,
  list_transform(r.resources, lambda x: struct_pack(arn := x.ARN, accountid := x.accountId, type := x.type)) AS resources,
  r.eventType AS eventtype, r.recipientAccountId AS recipientaccountid, r.eventCategory AS eventcategory
FROM (SELECT unnest(Records) AS r FROM read_json(?, columns = {'Records': '%s[]'}, format = 'unstructured'))"""


def value(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return v


def main():
    script = open(sys.argv[1]).read()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute((VIEW % RECORD).replace("?", "'" + sys.argv[2].replace("'", "''") + "'"))
    rows = []
    for statement in sqlglot.transpile(script, read="trino", write="duckdb"):
        cursor = con.execute(statement)
        names = [d[0] for d in cursor.description]
        rows.extend({n: value(v) for n, v in zip(names, row)} for row in cursor.fetchall())
    json.dump(rows, sys.stdout)


main()
