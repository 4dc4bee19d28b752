ALTER TABLE "page_sections" ALTER COLUMN "status" SET DEFAULT 'draft';--> statement-breakpoint
ALTER TABLE "page_sections" ADD CONSTRAINT "page_sections_status_check" CHECK ("status" in ('draft', 'published'));
