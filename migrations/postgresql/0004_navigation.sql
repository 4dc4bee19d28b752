CREATE TABLE "navigation_items" (
	"id" text PRIMARY KEY NOT NULL,
	"environment_id" text NOT NULL,
	"label" text NOT NULL,
	"page_id" text,
	"url" text,
	"sort_order" integer NOT NULL,
	"parent_id" text,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "navigation_items" ADD CONSTRAINT "navigation_items_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "navigation_items" ADD CONSTRAINT "navigation_items_page_id_pages_id_fk" FOREIGN KEY ("page_id") REFERENCES "public"."pages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "navigation_items" ADD CONSTRAINT "navigation_items_parent_id_navigation_items_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."navigation_items"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "navigation_items_environment_id_sort_order_idx" ON "navigation_items" USING btree ("environment_id","sort_order");--> statement-breakpoint
CREATE INDEX "navigation_items_page_id_idx" ON "navigation_items" USING btree ("page_id");--> statement-breakpoint
CREATE INDEX "navigation_items_parent_id_idx" ON "navigation_items" USING btree ("parent_id");
