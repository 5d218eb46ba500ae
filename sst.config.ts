/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Wiring only: the functions of each side in their own region, the relay, the state
 * machine (the JSONPath definition from @chunksync/workflow), the work bucket, the
 * pairing secret, per-function IAM (documents from @chunksync/workflow) and, when
 * configured, the schedule. Settings come from one validated file: CHUNKSYNC_CONFIG_FILE,
 * or `chunksync.<stage>.json`, or `chunksync.config.json`.
 */
export default $config({
  app(input) {
    return {
      name: "chunksync",
      removal: input?.stage === "production" ? "retain" : "remove",
      home: "aws",
      providers: { aws: "7.48.0" },
    };
  },
  async run() {
    const { existsSync, readFileSync } = await import("node:fs");
    const wf = await import("./packages/workflow/src/deploy.js");

    const candidates = [
      process.env.CHUNKSYNC_CONFIG_FILE,
      `chunksync.${$app.stage}.json`,
      "chunksync.config.json",
    ];
    const file = candidates.find((f): f is string => f !== undefined && existsSync(f));
    if (file === undefined) throw new Error(`no config file: tried ${candidates.filter(Boolean).join(", ")}`);
    const config = wf.parseConfig(JSON.parse(readFileSync(file, "utf8")));

    const sourceRegion = new aws.Provider("SourceRegion", { region: config.source.region as aws.Region });
    const destinationRegion = new aws.Provider("DestinationRegion", {
      region: config.destination.region as aws.Region,
    });
    const account = aws.getCallerIdentityOutput({}, { provider: sourceRegion }).accountId;

    // Work area: requests, responses, part lists and results of recent runs; old runs expire.
    const work = new aws.s3.BucketV2("WorkArea", { forceDestroy: true }, { provider: sourceRegion });
    new aws.s3.BucketPublicAccessBlock(
      "WorkAreaPrivate",
      {
        bucket: work.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      { provider: sourceRegion },
    );
    new aws.s3.BucketLifecycleConfigurationV2(
      "WorkAreaExpiry",
      {
        bucket: work.id,
        // Runs expire; each side's digest index under `<side>/index/` is rewritten by every run.
        rules: ["shared", "source", "destination"].map((part) => ({
          id: `expire-${part}-runs`,
          status: "Enabled",
          filter: { prefix: `${part}/runs/` },
          expiration: { days: config.workRetentionDays },
          abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
        })),
      },
      { provider: sourceRegion },
    );

    // The pairing secret: its value is set once by hand (see docs/serverless.md), never in code.
    const secret = new aws.secretsmanager.Secret(
      "PairingSecret",
      { description: "chunksync pairing secret (hex, 32+ random bytes)" },
      { provider: sourceRegion },
    );

    const lambdaTrust = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ],
    });
    const role = (name: string, policy: $util.Input<string>) => {
      const r = new aws.iam.Role(name, { assumeRolePolicy: lambdaTrust }, { provider: sourceRegion });
      new aws.iam.RolePolicyAttachment(
        `${name}Logs`,
        { role: r.name, policyArn: "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" },
        { provider: sourceRegion },
      );
      new aws.iam.RolePolicy(`${name}Policy`, { role: r.id, policy }, { provider: sourceRegion });
      return r;
    };
    const sideInput = (side: "source" | "destination") =>
      $resolve([work.bucket, secret.arn]).apply(([workBucket, secretArn]) => ({
        bucket: config[side].bucket,
        prefix: wf.directoryPrefix(config[side].prefix),
        workBucket,
        secretArn,
        ...(config[side].kmsKeyArn ? { kmsKeyArn: config[side].kmsKeyArn } : {}),
        ...(side === "destination" && config.delete ? { allowDelete: true } : {}),
        index: wf.indexLocationOf(config, side, workBucket),
      }));
    const sourceRole = role(
      "SourceSideRole",
      sideInput("source").apply((i) => JSON.stringify(wf.sourcePolicy(i))),
    );
    const destinationRole = role(
      "DestinationSideRole",
      sideInput("destination").apply((i) => JSON.stringify(wf.destinationPolicy(i))),
    );

    const environment = {
      CHUNKSYNC_CONFIG: JSON.stringify(config),
      WORK_BUCKET: work.bucket,
      WORK_REGION: config.source.region,
      PAIRING_SECRET_ARN: secret.arn,
    };
    const fn = (
      name: string,
      handler: string,
      roleArn: $util.Input<string>,
      provider: aws.Provider,
      extra = {},
    ) =>
      new sst.aws.Function(
        name,
        {
          handler: `functions/${handler}.handler`,
          runtime: wf.LAMBDA_RUNTIME,
          role: roleArn,
          timeout: "15 minutes",
          memory: "1769 MB",
          environment: { ...environment, ...extra },
        },
        { provider },
      );

    const destination = Object.fromEntries(
      wf.DESTINATION_TARGETS.map((t) => [t, fn(`Dst${t}`, t, destinationRole.arn, destinationRegion)]),
    ) as Record<(typeof wf.DESTINATION_TARGETS)[number], sst.aws.Function>;
    const destinationArns = $resolve(wf.DESTINATION_TARGETS.map((t) => destination[t].arn));

    const relayRole = role(
      "RelayRole",
      destinationArns.apply((arns) => JSON.stringify(wf.relayPolicy(arns))),
    );
    const relay = fn("Relay", "relay", relayRole.arn, sourceRegion, {
      DESTINATION_REGION: config.destination.region,
      DESTINATION_FUNCTIONS: $resolve(
        Object.fromEntries(wf.DESTINATION_TARGETS.map((t) => [t, destination[t].arn])),
      ).apply((arns) => JSON.stringify(arns)),
    });
    const source = Object.fromEntries(
      wf.SOURCE_FUNCTIONS.map((f) => [f, fn(`Src${f}`, f, sourceRole.arn, sourceRegion)]),
    ) as Record<(typeof wf.SOURCE_FUNCTIONS)[number], sst.aws.Function>;

    /**
     * A state machine in the source region over `functions` (by task name, the relay included),
     * with a role that may invoke only those and start only its own executions. `names` keeps
     * the sync's resource names from before audits ("" for it).
     */
    const stateMachine = (
      id: "Sync" | "Audit",
      names: string,
      functions: Record<string, $util.Input<string>>,
      definition: (arns: Record<string, string>) => unknown,
    ) => {
      const name = `${$app.name}-${$app.stage}-${id.toLowerCase()}`;
      const arn = $interpolate`arn:aws:states:${config.source.region}:${account}:stateMachine:${name}`;
      const machineRole = new aws.iam.Role(
        `${names}StateMachineRole`,
        {
          assumeRolePolicy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              { Effect: "Allow", Principal: { Service: "states.amazonaws.com" }, Action: "sts:AssumeRole" },
            ],
          }),
        },
        { provider: sourceRegion },
      );
      new aws.iam.RolePolicy(
        `${names}StateMachinePolicy`,
        {
          role: machineRole.id,
          policy: $resolve([$resolve(Object.values(functions)), arn] as const).apply(([arns, machineArn]) =>
            JSON.stringify(wf.stateMachinePolicy({ functionArns: [...arns], stateMachineArn: machineArn })),
          ),
        },
        { provider: sourceRegion },
      );
      return new aws.sfn.StateMachine(
        id,
        {
          name,
          type: "STANDARD",
          roleArn: machineRole.arn,
          definition: $resolve(functions).apply((arns) => JSON.stringify(definition(arns))),
        },
        { provider: sourceRegion },
      );
    };
    const machine = stateMachine(
      "Sync",
      "",
      Object.fromEntries([...wf.SOURCE_FUNCTIONS.map((f) => [f, source[f].arn]), ["relay", relay.arn]]),
      (functions) =>
        wf.buildDefinition({
          functions: functions as never,
          maxConcurrency: config.maxConcurrency,
          toleratedFailurePercentage: config.toleratedFailurePercentage,
          batchConcurrency: config.batchConcurrency,
        }),
    );

    /** A schedule that starts `target`'s run of each window, through its own start function. */
    const schedule = (
      name: string,
      target: aws.sfn.StateMachine,
      when: { expression: string; timezone: string },
    ) => {
      const startRole = role(
        `${name}StartRunRole`,
        target.arn.apply((arn) => JSON.stringify(wf.startRunPolicy(arn))),
      );
      const start = fn(`${name}StartRun`, "startRun", startRole.arn, sourceRegion, {
        STATE_MACHINE_ARN: target.arn,
      });
      const schedulerRole = new aws.iam.Role(
        `${name}ScheduleRole`,
        {
          assumeRolePolicy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Principal: { Service: "scheduler.amazonaws.com" },
                Action: "sts:AssumeRole",
              },
            ],
          }),
        },
        { provider: sourceRegion },
      );
      new aws.iam.RolePolicy(
        `${name}SchedulePolicy`,
        { role: schedulerRole.id, policy: start.arn.apply((arn) => JSON.stringify(wf.schedulerPolicy(arn))) },
        { provider: sourceRegion },
      );
      new aws.scheduler.Schedule(
        `${name}Schedule`,
        {
          scheduleExpression: when.expression,
          scheduleExpressionTimezone: when.timezone,
          flexibleTimeWindow: { mode: "OFF" },
          target: {
            arn: start.arn,
            roleArn: schedulerRole.arn,
            input: JSON.stringify({ scheduledTime: "<aws.scheduler.scheduled-time>" }),
            retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
          },
        },
        { provider: sourceRegion },
      );
    };
    // The first schedule keeps its resource names ("StartRun", "Schedule", ...) from before audits.
    if (config.schedule) schedule("", machine, config.schedule);

    // The audit: its own source functions and state machine on its own schedule, sharing the
    // sync's roles, relay, destination functions and work area (its report lands there).
    let auditMachine: aws.sfn.StateMachine | undefined;
    if (config.audit) {
      const audit = Object.fromEntries(
        wf.AUDIT_SOURCE_FUNCTIONS.map((f) => [f, fn(`Src${f}`, f, sourceRole.arn, sourceRegion)]),
      ) as Record<(typeof wf.AUDIT_SOURCE_FUNCTIONS)[number], sst.aws.Function>;
      auditMachine = stateMachine(
        "Audit",
        "Audit",
        Object.fromEntries([
          ...wf.AUDIT_SOURCE_FUNCTIONS.map((f) => [f, audit[f].arn]),
          ["relay", relay.arn],
        ]),
        (functions) =>
          wf.buildAuditDefinition({ functions: functions as never, maxConcurrency: config.maxConcurrency }),
      );
      schedule("Audit", auditMachine, config.audit.schedule);
    }

    return {
      stateMachine: machine.arn,
      ...(auditMachine ? { auditStateMachine: auditMachine.arn } : {}),
      workBucket: work.bucket,
      pairingSecret: secret.arn,
    };
  },
});
