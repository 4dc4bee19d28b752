CREATE TABLE "images" (
	"id" text PRIMARY KEY NOT NULL,
	"file_name" text NOT NULL,
	"url" text NOT NULL,
	"alt" text NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "images_file_name_unique" UNIQUE("file_name")
);
--> statement-breakpoint
CREATE TABLE "posts" (
	"id" text PRIMARY KEY NOT NULL,
	"site_id" text NOT NULL,
	"environment_id" text NOT NULL,
	"title" text NOT NULL,
	"slug" text NOT NULL,
	"excerpt" text,
	"body" text NOT NULL,
	"status" text DEFAULT 'draft' NOT NULL,
	"published_at" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "posts_environment_id_slug_unique" UNIQUE("environment_id","slug"),
	CONSTRAINT "posts_status_check" CHECK ("status" in ('draft', 'published'))
);
--> statement-breakpoint
ALTER TABLE "posts" ADD CONSTRAINT "posts_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "posts" ADD CONSTRAINT "posts_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "posts_site_id_idx" ON "posts" USING btree ("site_id");--> statement-breakpoint
CREATE INDEX "posts_environment_id_status_published_at_idx" ON "posts" USING btree ("environment_id","status","published_at");
