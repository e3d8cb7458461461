CREATE TABLE "job_executions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"job_id" uuid NOT NULL,
	"execution_id" varchar(100) NOT NULL,
	"trigger_type" varchar(20) NOT NULL,
	"triggered_by" uuid,
	"status" varchar(20) NOT NULL,
	"progress" integer DEFAULT 0 NOT NULL,
	"scheduled_at" timestamp (3) with time zone NOT NULL,
	"started_at" timestamp (3) with time zone,
	"completed_at" timestamp (3) with time zone,
	"duration_ms" integer,
	"result" jsonb,
	"error_type" varchar(30),
	"error_message" text,
	"error_stack" text,
	"retry_count" integer DEFAULT 0 NOT NULL,
	"worker_id" varchar(100),
	"memory_peak_mb" integer,
	"cpu_time_ms" integer,
	"tenant_id" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_executions_execution_id_unique" UNIQUE("execution_id")
);
--> statement-breakpoint
CREATE TABLE "scheduled_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" varchar(200) NOT NULL,
	"description" text,
	"cron_expression" varchar(100) NOT NULL,
	"timezone" varchar(50) DEFAULT 'UTC' NOT NULL,
	"job_type" varchar(50) NOT NULL,
	"config" jsonb NOT NULL,
	"retry_config" jsonb,
	"timeout_seconds" integer DEFAULT 300 NOT NULL,
	"max_concurrent" integer DEFAULT 1 NOT NULL,
	"status" varchar(20) DEFAULT 'active' NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"misfire_policy" varchar(20) DEFAULT 'fire_once' NOT NULL,
	"start_date" timestamp (3) with time zone,
	"end_date" timestamp (3) with time zone,
	"max_executions" integer,
	"execution_count" integer DEFAULT 0 NOT NULL,
	"tenant_id" uuid NOT NULL,
	"created_by" uuid NOT NULL,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_execution_at" timestamp (3) with time zone,
	"next_execution_at" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE TABLE "scheduler_locks" (
	"lock_key" varchar(200) PRIMARY KEY NOT NULL,
	"locked_by" varchar(100) NOT NULL,
	"locked_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL,
	"epoch" bigint DEFAULT 0 NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "job_executions" ADD CONSTRAINT "job_executions_job_id_scheduled_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."scheduled_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idx_job_executions_job_id_created" ON "job_executions" USING btree ("job_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "idx_job_executions_status_tenant" ON "job_executions" USING btree ("status","tenant_id");--> statement-breakpoint
CREATE UNIQUE INDEX "uq_job_executions_scheduled_slot" ON "job_executions" USING btree ("job_id","scheduled_at") WHERE "job_executions"."trigger_type" = 'scheduled';--> statement-breakpoint
CREATE INDEX "idx_scheduled_jobs_next_execution" ON "scheduled_jobs" USING btree ("next_execution_at") WHERE "scheduled_jobs"."status" = 'active';--> statement-breakpoint
CREATE UNIQUE INDEX "uq_scheduled_jobs_tenant_name" ON "scheduled_jobs" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE INDEX "idx_scheduled_jobs_tenant_created" ON "scheduled_jobs" USING btree ("tenant_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);