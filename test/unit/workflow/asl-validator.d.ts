// asl-validator 4.0.0 ships no type declarations.
declare module "asl-validator" {
  interface ValidationResult {
    isValid: boolean;
    errors: { message?: string; "Error code"?: string; Message?: string }[];
    errorsText(separator?: string): string;
  }
  export default function validator(definition: unknown, options?: unknown): ValidationResult;
}
