"""Generic text for the house-style score: what the company's writing should NOT sound like.

Passages on the same topics as a public-sector digital supplier's documents (bids, case studies,
annual reports, service pages, assistant replies), written the generic way: passive voice, abstract
nouns, no named people, no numbers with dates, brochure vocabulary. Keeping the topics the same makes
the classifier learn the voice rather than the subject. Written for this project; no third-party text.
"""

from __future__ import annotations

GENERIC_TEXTS: tuple[str, ...] = (
    "Our organisation is committed to delivering innovative, best-in-class digital solutions that empower "
    "stakeholders across the public sector. By leveraging cutting-edge technologies and proven methodologies, "
    "we ensure seamless outcomes that add value going forward.",
    "The proposed solution will be delivered using an agile approach. Requirements will be gathered from "
    "stakeholders and prioritised accordingly. Regular updates will be provided to ensure that all parties "
    "are kept informed of progress throughout the lifecycle of the project.",
    "We have extensive experience of working with a wide range of clients in the health sector. Our team has "
    "a deep understanding of the challenges faced by healthcare organisations and is well placed to support "
    "the Trust in achieving its strategic objectives.",
    "Data security is of paramount importance. Appropriate technical and organisational measures will be "
    "implemented to protect personal data, in line with relevant legislation and industry best practice. "
    "Access controls will be reviewed on a regular basis.",
    "As an AI assistant, I can provide general information on this topic. There are many factors to consider, "
    "and the answer may depend on your specific circumstances. It is always advisable to consult the relevant "
    "documentation or speak to a qualified professional.",
    "Thank you for your question. Generally speaking, organisations tend to approach this in a number of "
    "different ways. Some of the key considerations include cost, timescales, risk and the needs of the "
    "various stakeholders involved in the process.",
    "The platform will provide a holistic, end-to-end view of the citizen journey, enabling a step change in "
    "service quality. A robust governance framework will be put in place to ensure that benefits are realised "
    "and that lessons learned are captured.",
    "Training will be provided to end users as required. A range of materials will be made available, "
    "including user guides and online resources, to ensure that staff are able to make the most of the new "
    "system once it has been deployed.",
    "The company has continued to perform well during the year, reflecting the hard work and dedication of "
    "our people. We remain well positioned for future growth and are confident in our ability to deliver "
    "value for our shareholders and wider stakeholders.",
    "Our holistic approach to transformation brings together people, process and technology. We work in "
    "partnership with our clients to co-create solutions that are tailored to their unique needs and that "
    "deliver sustainable, long-term value.",
    "It is important to note that every project is different. The timescales, costs and resources required "
    "will vary depending on the scope of the work and the complexity of the existing systems and processes.",
    "Risks will be identified, assessed and managed throughout the project. A risk register will be "
    "maintained and reviewed at regular intervals, and mitigating actions will be agreed with the client "
    "where appropriate.",
    "Hybrid working offers a number of benefits for both employees and employers, including increased "
    "flexibility and improved wellbeing. However, it also presents certain challenges, such as maintaining "
    "collaboration and a strong organisational culture.",
    "Our dedicated team of experts brings a wealth of knowledge and experience across a broad range of "
    "disciplines. We pride ourselves on our customer-centric approach and our commitment to excellence in "
    "everything we do.",
    "The new service was implemented successfully and has been well received by users. Feedback has been "
    "positive overall, and a number of improvements have been identified for future phases of the programme.",
    "Quality assurance is embedded throughout our delivery lifecycle. Testing will be carried out at each "
    "stage to ensure that the solution meets the agreed requirements and performs as expected in the live "
    "environment.",
    "Social value is a key priority for our organisation. We are committed to making a positive difference "
    "in the communities in which we operate, and we will work with the authority to identify opportunities "
    "to deliver additional benefits.",
    "Accessibility will be considered throughout the design process to ensure that the service can be used "
    "by as many people as possible. Relevant standards and guidelines will be followed where applicable.",
    "I'm sorry, but I don't have access to specific information about that. However, I can offer some "
    "general guidance. You may wish to check the organisation's official website or contact the relevant "
    "department for further details.",
    "In conclusion, the proposed approach represents a robust and cost-effective solution that will enable "
    "the client to achieve its objectives, improve efficiency and deliver better outcomes for service users.",
    "Continuous improvement is at the heart of our service management approach. Performance will be "
    "monitored against agreed service levels, and regular reports will be provided to the client to support "
    "effective decision-making.",
    "The migration of legacy data will be carefully planned and executed to minimise disruption. Data will be "
    "cleansed and validated prior to migration, and appropriate fallback arrangements will be put in place.",
    "We believe that our innovative approach, combined with our passion for technology and our commitment "
    "to our clients, makes us the ideal partner for this exciting and important programme of work.",
    "Expenses incurred in the course of business travel may be reclaimed in line with the applicable policy. "
    "Employees should ensure that receipts are retained and that claims are submitted in a timely manner.",
    "The justice sector faces a number of complex challenges, including rising demand, constrained budgets "
    "and ageing technology. Digital transformation has the potential to address many of these challenges.",
    "Our cloud-native architecture is scalable, secure and resilient, leveraging industry-leading platforms "
    "to deliver high availability and performance while optimising total cost of ownership.",
    "Stakeholder engagement will be undertaken throughout the project to ensure that the views of all "
    "interested parties are taken into account and that there is buy-in for the proposed changes.",
    "There are several possible answers to this question. On the one hand, it could be argued that the main "
    "driver was improved efficiency. On the other hand, external market factors may also have played a role.",
    "Revenue increased compared with the previous year, driven by growth across a number of areas of the "
    "business. Margins also improved as a result of ongoing efficiency initiatives and a focus on cost control.",
    "Our values guide everything we do. We strive to act with integrity, to put our customers first, to "
    "embrace innovation and to work collaboratively to deliver outstanding results.",
    "The solution will integrate seamlessly with existing systems through a range of open standards and "
    "interfaces, ensuring interoperability and reducing the need for manual processes and duplicate data entry.",
    "Please note that this information is provided for general guidance only and may not reflect the most "
    "recent changes. For the latest position, please refer to the relevant policy or contact your line manager.",
    "Patient outcomes are a key focus of the programme. By providing clinicians with timely access to "
    "information, the system will support improved decision-making and more joined-up care across settings.",
    "We are delighted to have been selected as a partner for this important initiative and look forward to "
    "working closely with the client team to ensure its success.",
    "Going forward, the organisation will continue to invest in its people, its technology and its "
    "capabilities in order to remain at the forefront of the market and to meet the evolving needs of clients.",
    "The transport sector is undergoing significant change, with new technologies and changing passenger "
    "expectations creating both opportunities and challenges for operators and public bodies alike.",
)
