"""The bundled enrichment config (a module, not a data file, so every install has it)."""

DEFAULT_YAML = """\
# The enricher defaults (docs/enrichment.md). Each name below becomes a field the rules use:
#   counters   -> ctb.count[<name>]  (uint64: the principal's total within `window` seconds)
#   first_seen -> ctb.first[<name>]  ("true" the first time the key is seen, then "false")
#   sequences  -> ctb.seq[<name>]    (uint64: steps done in order within `window` seconds)
# A principal is the caller's ARN; for assumed roles, the role (sessions come and go), except
# per_session_roles.
# Records of AWS services (userIdentity.type AWSService or AWSAccount) are not tracked.

max_principals: 20000
max_keys: 200000
max_events_per_counter: 1000
# Roles whose sessions are counted one by one (a session of an Identity Center permission set is
# one person); other roles count as one principal (app and CI sessions come and go).
per_session_roles: ["AWSReservedSSO_*"]

counters:
  - name: secret_reads              # Secrets Manager harvesting
    match: {events: ["secretsmanager.amazonaws.com:GetSecretValue"]}
    window: 600
  - name: password_data             # Windows password retrieval, denied attempts included
    match: {events: ["ec2.amazonaws.com:GetPasswordData"]}
    window: 600
  - name: ssm_parameter_reads       # weighted by the number of names asked for
    match: {events: ["ssm.amazonaws.com:GetParameter", "ssm.amazonaws.com:GetParameters"],
            equals: {/requestParameters/withDecryption: true}}
    weight: /requestParameters/names
    window: 600
  - name: ssm_command_targets       # instances reached by SendCommand
    match: {events: ["ssm.amazonaws.com:SendCommand"]}
    weight: /requestParameters/instanceIds
    window: 900
  - name: ssm_sessions
    match: {events: ["ssm.amazonaws.com:StartSession"], errors: none}
    window: 900
  - name: ssh_key_pushes            # EC2 Instance Connect and serial console
    match: {events: ["ec2-instance-connect.amazonaws.com:SendSSHPublicKey",
                     "ec2-instance-connect.amazonaws.com:SendSerialConsoleSSHPublicKey"]}
    window: 900
  - name: console_login_failures
    match: {events: ["signin.amazonaws.com:ConsoleLogin"],
            equals: {/responseElements/ConsoleLogin: Failure}}
    window: 600
  - name: denied_calls
    match: {errors: only, error_codes: [AccessDenied, AccessDeniedException, Client.UnauthorizedOperation,
                                        UnauthorizedOperation, Client.AuthFailure, UnauthorizedAccess]}
    window: 600
  - name: s3_object_deletes         # data events
    match: {events: ["s3.amazonaws.com:DeleteObject", "s3.amazonaws.com:DeleteObjects"], errors: none}
    window: 600
  - name: s3_sse_c_writes           # objects rewritten with a customer-provided key
    match: {events: ["s3.amazonaws.com:PutObject", "s3.amazonaws.com:CopyObject"], errors: none,
            present: [/requestParameters/x-amz-server-side-encryption-customer-algorithm]}
    window: 600
  - name: user_data_reads
    match: {events: ["ec2.amazonaws.com:DescribeInstanceAttribute"],
            equals: {/requestParameters/attribute: userData}}
    window: 600

first_seen:
  - name: principal_region          # first call of a principal in a region
    key: [principal, region]
  - name: principal_api             # first use of an API by a principal
    key: [principal, api]
  - name: principal_region_write    # first change (readOnly false) of a principal in a region
    match: {equals: {/readOnly: false}}
    key: [principal, region]
  - name: session_srcip             # a role session (e.g. an instance's) used from a new address
    key: [session, srcip]
  - name: session                   # a role session seen for the first time
    key: [session]

sequences:
  - name: ec2_userdata_swap         # stop, replace user data, start: code runs as the instance role
    steps:
      - {events: ["ec2.amazonaws.com:StopInstances"], errors: none}
      - {events: ["ec2.amazonaws.com:ModifyInstanceAttribute"], errors: none, present: [/requestParameters/userData]}
      - {events: ["ec2.amazonaws.com:StartInstances"], errors: none}
    window: 3600
  - name: sagemaker_lifecycle_swap  # the same move on a SageMaker notebook
    steps:
      - {events: ["sagemaker.amazonaws.com:StopNotebookInstance"], errors: none}
      - {events: ["sagemaker.amazonaws.com:UpdateNotebookInstance"], errors: none,
         present: [/requestParameters/lifecycleConfigName]}
      - {events: ["sagemaker.amazonaws.com:StartNotebookInstance"], errors: none}
    window: 3600
"""
